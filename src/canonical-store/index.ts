export * from './canonical-store-props';
export * from './canonical-store';
export { Migrations } from './migrations';
export { CanonicalStoreBase } from './canonical-store-base';
