import { Template } from 'aws-cdk-lib/assertions';
import { DataPipelineStack } from '../examples/data-pipeline-stack';
import { createTestApp, removeTestAppDirs } from './construct-support/app';

afterAll(removeTestAppDirs);

test('the example app synthesizes a stack with the canonical store', () => {
  const app = createTestApp();
  const stack = new DataPipelineStack(app, 'Example');
  const assembly = app.synth();
  expect(assembly.getStackByName('Example').template).toBeDefined();
  const template = Template.fromStack(stack);
  template.resourceCountIs('AWS::RDS::DBInstance', 1);
  template.resourceCountIs('Custom::CanonicalStoreMigrations', 1);
  template.hasResource('AWS::RDS::DBInstance', { DeletionPolicy: 'Snapshot' });
});

test('the sandbox variant deletes its data with the stack', () => {
  const stack = new DataPipelineStack(createTestApp(), 'Sandbox', { destroyData: true });
  Template.fromStack(stack).hasResource('AWS::RDS::DBInstance', { DeletionPolicy: 'Delete' });
});
