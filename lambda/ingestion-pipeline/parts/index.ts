/** The distributed path's building blocks: split a file into parts at record ends; read one part. */
export { planParts } from './part-plan';
export type { HeaderRange, PartPlan, PlannedPart, PlanOptions } from './part-plan';
export { readPart } from './read-part';
export type { PartReadOptions } from './read-part';
