/**
 * Maps node-saml's error messages to our kebab-case reasons, for logs and tests only: the public
 * answer is the same SAML_LOGIN_FAILED whatever the reason (no oracle for attackers).
 * Unknown messages map to `saml-validation-failed`.
 */
const PATTERNS: [RegExp, string][] = [
  [/signature/i, 'signature-invalid'],
  [/audience/i, 'audience-mismatch'],
  [/not yet valid/i, 'assertion-not-yet-valid'],
  [/expired|too old/i, 'assertion-expired'],
  [/InResponseTo/i, 'in-response-to-invalid'],
  [/multiple (assertions|conditions)/i, 'not-exactly-one-assertion'],
  [/issuer/i, 'issuer-mismatch'],
  [/status|provider returned/i, 'status-not-success'],
  [/subject confirmation/i, 'no-valid-subject-confirmation'],
];

export function classifyNodeSamlError(err: unknown): string {
  const message = err instanceof Error ? err.message : String(err);
  for (const [pattern, reason] of PATTERNS) if (pattern.test(message)) return reason;
  return 'saml-validation-failed';
}
