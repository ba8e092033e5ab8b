export * from './ai-analyzer-props';
export { AiAnalyzer, AnomalyThresholds } from './ai-analyzer';
export { BedrockModel } from './bedrock-model';
export { AiAnalyzerBase } from './ai-analyzer-base';
