/**
 * Checks a parsed JSON value before any route sees it: nesting no deeper than MAX_JSON_DEPTH (so
 * later recursive code — JSON.stringify for idempotency hashes, zod, Prisma — cannot overflow the
 * stack) and every string and key obeying the text rules. The walk is iterative: the value may be
 * nested 500,000 levels deep when it arrives.
 */
import { ApiError } from '../errors.js';
import { textProblem } from './textRules.js';

export const MAX_JSON_DEPTH = 32;

interface Frame {
  value: unknown;
  depth: number;
  parent: Frame | undefined;
  key: string | number | undefined;
}

/** The dotted path of a frame, as zod reports paths (`events.0.metric`); built only on failure. */
function pathOf(frame: Frame | undefined): string {
  const keys: string[] = [];
  for (let f = frame; f?.key !== undefined; f = f.parent) keys.push(String(f.key));
  return keys.reverse().join('.');
}

function textError(path: string, message: string): ApiError {
  const issue = { path, message };
  return new ApiError(400, 'validation_failed', `Invalid request body: ${path ? `${path}: ` : ''}${message}`, { issues: [issue] });
}

export function checkJsonValue(root: unknown): void {
  const stack: Frame[] = [{ value: root, depth: 0, parent: undefined, key: undefined }];
  for (let frame = stack.pop(); frame; frame = stack.pop()) {
    const { value, depth } = frame;
    if (typeof value === 'string') {
      const problem = textProblem(value);
      if (problem) throw textError(pathOf(frame), problem);
      continue;
    }
    if (typeof value !== 'object' || value === null) continue;
    if (depth >= MAX_JSON_DEPTH) throw new ApiError(400, 'invalid_json', `The request body is nested deeper than ${MAX_JSON_DEPTH} levels.`);
    if (Array.isArray(value)) {
      for (let i = value.length - 1; i >= 0; i--) stack.push({ value: value[i], depth: depth + 1, parent: frame, key: i });
      continue;
    }
    const entries = Object.entries(value);
    for (const [key, child] of entries) {
      const problem = textProblem(key);
      if (problem) throw textError(pathOf({ value: child, depth, parent: frame, key }), `the key ${problem}`);
    }
    // Reversed, so the first bad value in document order is the one reported.
    for (let i = entries.length - 1; i >= 0; i--) stack.push({ value: entries[i]![1], depth: depth + 1, parent: frame, key: entries[i]![0] });
  }
}
