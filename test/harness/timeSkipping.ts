/** The Java time-skipping test server, so months of cycles run in seconds. */
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { inject } from 'vitest';

export async function startTimeSkipping(): Promise<TestWorkflowEnvironment> {
  const path = inject('testServerPath');
  return TestWorkflowEnvironment.createTimeSkipping(path ? { server: { executable: { type: 'existing-path', path } } } : {});
}
