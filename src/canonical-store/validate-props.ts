import { Duration, Token } from 'aws-cdk-lib';
import { CanonicalStoreProps, StoreEngine } from './canonical-store-props';
import { validateMigrations } from './migrations';

const RESERVED_DATABASE_NAMES = ['postgres', 'template0', 'template1', 'rdsadmin'];

function known(value: number | undefined): value is number {
  return value !== undefined && !Token.isUnresolved(value);
}

function checkHalfSteps(prop: string, value: number, min: number, max: number): void {
  if (value < min || value > max || !Number.isInteger(value * 2)) {
    throw new Error(`${prop} must be between ${min} and ${max} ACUs in steps of 0.5, got ${value}`);
  }
}

function checkDuration(prop: string, value: Duration | undefined, min: Duration, max: Duration, unit: string): void {
  if (!value || Token.isUnresolved(value.toSeconds())) return;
  if (value.toSeconds() < min.toSeconds() || value.toSeconds() > max.toSeconds()) {
    throw new Error(`${prop} must be between ${min.toHumanString()} and ${max.toHumanString()}, got ${value.toHumanString()}`);
  }
  if (unit === 'days' && value.toSeconds() % 86400 !== 0) {
    throw new Error(`${prop} must be a whole number of days, got ${value.toHumanString()}`);
  }
}

/** Synth-time checks of `CanonicalStoreProps`, each error naming the prop. */
export function validateProps(props: CanonicalStoreProps): void {
  const aurora = props.engine === StoreEngine.AURORA_POSTGRES_SERVERLESS_V2;
  // Props of the other engine are mistakes, not silently ignored settings.
  const otherEngineProps = aurora
    ? {
      postgresVersion: props.postgresVersion,
      instanceType: props.instanceType,
      allocatedStorage: props.allocatedStorage,
      maxAllocatedStorage: props.maxAllocatedStorage,
    }
    : {
      auroraPostgresVersion: props.auroraPostgresVersion,
      serverlessV2MinCapacity: props.serverlessV2MinCapacity,
      serverlessV2MaxCapacity: props.serverlessV2MaxCapacity,
    };
  for (const [prop, value] of Object.entries(otherEngineProps)) {
    if (value !== undefined) {
      throw new Error(`${prop} does not apply to engine ${aurora ? StoreEngine.AURORA_POSTGRES_SERVERLESS_V2 : StoreEngine.RDS_POSTGRES}`);
    }
  }

  const min = props.serverlessV2MinCapacity;
  const max = props.serverlessV2MaxCapacity;
  if (known(min)) checkHalfSteps('serverlessV2MinCapacity', min, 0, 256);
  if (known(max)) checkHalfSteps('serverlessV2MaxCapacity', max, 1, 256);
  if (aurora && (min ?? 0.5) > (max ?? 4)) {
    throw new Error(`serverlessV2MinCapacity (${min ?? 0.5}) must not be greater than serverlessV2MaxCapacity (${max ?? 4})`);
  }

  const storage = props.allocatedStorage ?? 20;
  if (known(props.allocatedStorage) && (!Number.isInteger(storage) || storage < 20 || storage > 65536)) {
    throw new Error(`allocatedStorage must be a whole number of GiB between 20 and 65536, got ${storage}`);
  }
  if (known(props.maxAllocatedStorage) && props.maxAllocatedStorage < storage) {
    throw new Error(`maxAllocatedStorage (${props.maxAllocatedStorage}) must not be smaller than allocatedStorage (${storage})`);
  }

  if (props.vpc && props.natGateways !== undefined) {
    throw new Error('natGateways applies to the VPC the construct creates: leave it out when you pass `vpc`');
  }
  if (props.vpc && props.maxAzs !== undefined) {
    throw new Error('maxAzs applies to the VPC the construct creates: leave it out when you pass `vpc`');
  }
  if (known(props.natGateways) && (!Number.isInteger(props.natGateways) || props.natGateways < 0)) {
    throw new Error(`natGateways must be a non-negative integer, got ${props.natGateways}`);
  }
  if (known(props.maxAzs) && (!Number.isInteger(props.maxAzs) || props.maxAzs < 2)) {
    throw new Error(`maxAzs must be at least 2 (a database subnet group spans two Availability Zones), got ${props.maxAzs}`);
  }

  if (known(props.port) && (!Number.isInteger(props.port) || props.port < 1150 || props.port > 65535)) {
    throw new Error(`port must be between 1150 and 65535, got ${props.port}`);
  }
  const name = props.databaseName;
  if (name !== undefined && !Token.isUnresolved(name)) {
    if (!/^[A-Za-z][A-Za-z0-9_]{0,62}$/.test(name) || RESERVED_DATABASE_NAMES.includes(name.toLowerCase())) {
      throw new Error(`databaseName "${name}" is invalid: start with a letter, use letters, digits and "_" (at most 63), and avoid ${RESERVED_DATABASE_NAMES.join(', ')}`);
    }
  }

  checkDuration('backupRetention', props.backupRetention, Duration.days(1), Duration.days(35), 'days');
  checkDuration('rotationInterval', props.rotationInterval, Duration.hours(4), Duration.days(1000), 'any');
  validateMigrations(props.migrations ?? []);
}
