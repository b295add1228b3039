/**
 * A GET/HEAD/OPTIONS that carried a body. An upstream that ignores bodies on these methods would
 * read the body as a second request (never checked by policy) and answer it on the same socket,
 * to the next user: both engines close the upstream connection after such an exchange.
 */
export function bodyOnSafeMethod(req: { method?: string; headers: Record<string, string | string[] | undefined> }): boolean {
  const m = req.method;
  if (m !== 'GET' && m !== 'HEAD' && m !== 'OPTIONS') return false;
  const cl = req.headers['content-length'];
  return (cl !== undefined && cl !== '0') || req.headers['transfer-encoding'] !== undefined;
}
