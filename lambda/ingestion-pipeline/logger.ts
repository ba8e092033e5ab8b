/**
 * The processor's one logger: the handler adds the Lambda context to it (request id, cold start,
 * function), so every module's lines carry it.
 */
import { Logger } from '@aws-lambda-powertools/logger';

export const logger = new Logger();
