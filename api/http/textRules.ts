/**
 * What every piece of client text must be before it goes anywhere near storage. PostgreSQL refuses
 * NUL in text (SQLSTATE 22021), so a NUL that got through would be a 500 that the client retries
 * forever; a lone surrogate (a `\ud800` escape in JSON) cannot be encoded as UTF-8 and would be
 * stored as U+FFFD, merging two different values. The body reader (checkJsonValue.ts) and the zod
 * schemas (api/schemas.ts `safeText`) both apply these rules.
 */

export interface TextRule {
  test(value: string): boolean;
  message: string;
}

// tsconfig's lib is ES2023; String.prototype.isWellFormed is ES2024 and present in Node ≥ 20.
const wellFormed = (String.prototype as { isWellFormed?: (this: string) => boolean }).isWellFormed;

export const TEXT_RULES: readonly TextRule[] = [
  { test: (value) => !value.includes('\u0000'), message: 'must not contain NUL (\\u0000) characters' },
  { test: (value) => wellFormed!.call(value), message: 'must be well-formed Unicode (no lone surrogates such as \\ud800)' },
];

/** The first rule the text breaks, or undefined when it is fine. */
export function textProblem(value: string): string | undefined {
  for (const rule of TEXT_RULES) if (!rule.test(value)) return rule.message;
  return undefined;
}
