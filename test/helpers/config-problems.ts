import assert from 'node:assert/strict';
import { loadConfig } from '../../proxy/config/load.js';
import { ConfigError, type ConfigProblem } from '../../proxy/config/problems.js';

/** Every problem loading `file` reports (none: the config loads); anything but a ConfigError fails the test. */
export function configProblems(file: string, env: NodeJS.ProcessEnv = {}): ConfigProblem[] {
  try {
    loadConfig(file, env);
  } catch (err) {
    assert.ok(err instanceof ConfigError, String(err));
    return err.problems;
  }
  return [];
}
