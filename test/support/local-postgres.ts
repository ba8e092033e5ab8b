export { startLocalPostgres, findServerBinaries, freePort, type LocalPostgres, type LocalPostgresOptions } from '../../sandbox/src/local-postgres';
