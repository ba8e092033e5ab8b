/**
 * An error as Step Functions' Retry and Catch match it: by its name (`States.Runtime`,
 * `DynamoDB.ConditionalCheckFailedException`, a function's errorType), with the cause as its message.
 */
export function statesError(name: string, cause: string): Error {
  const e = new Error(cause);
  e.name = name;
  return e;
}
