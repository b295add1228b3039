import { CookieJar, jarFetch } from './cookie-jar.js';

/** Pulls a hidden input's value out of an HTML form (test-only; our own pages). */
export function hiddenInput(html: string, name: string): string | undefined {
  const m = new RegExp(`name="${name}" value="([^"]*)"`).exec(html);
  return m?.[1]?.replace(/&#(\d+);/g, (_s, d: string) => String.fromCharCode(Number(d))).replace(/&amp;/g, '&');
}

/** What a login through the demo IdP produced, step by step, for tests to tamper with. */
export interface DemoLoginSteps {
  jar: CookieJar;
  acsUrl: string;
  samlResponse: string;
  relayState: string;
}

/**
 * Drives a login through Gatehouse's built-in demo IdP over plain HTTP up to (not including)
 * the POST to the ACS: start at `/.gatehouse/saml/<id>/login`, follow to the picker, pick a user.
 */
export async function demoLoginUntilAcs(baseUrl: string, user: string, opts: { connection?: string; rd?: string; jar?: CookieJar } = {}): Promise<DemoLoginSteps> {
  const jar = opts.jar ?? new CookieJar();
  const start = await jarFetch(jar, `${baseUrl}/.gatehouse/saml/${opts.connection ?? 'demo'}/login?rd=${encodeURIComponent(opts.rd ?? '/')}`);
  if (start.status !== 302) throw new Error(`login start answered ${start.status}`);
  const idpUrl = start.headers.get('location')!;
  const picker = await jarFetch(jar, idpUrl);
  if (picker.status !== 200) throw new Error(`demo IdP answered ${picker.status}`);
  const q = new URL(idpUrl).searchParams;
  const form = new URLSearchParams({ SAMLRequest: q.get('SAMLRequest')!, RelayState: q.get('RelayState') ?? '', user });
  const posted = await jarFetch(jar, `${baseUrl}/.gatehouse/demo-idp/sso`, { method: 'POST', body: form });
  const html = await posted.text();
  if (posted.status !== 200) throw new Error(`demo IdP POST answered ${posted.status}: ${html}`);
  const acsUrl = /action="([^"]+)"/.exec(html)![1]!;
  return { jar, acsUrl, samlResponse: hiddenInput(html, 'SAMLResponse')!, relayState: hiddenInput(html, 'RelayState')! };
}

/** Posts the SAMLResponse to the ACS with the browser's cookies. */
export async function postToAcs(steps: DemoLoginSteps, override: Partial<{ samlResponse: string; relayState: string; jar: CookieJar }> = {}): Promise<Response> {
  const body = new URLSearchParams({ SAMLResponse: override.samlResponse ?? steps.samlResponse, RelayState: override.relayState ?? steps.relayState });
  return jarFetch(override.jar ?? steps.jar, steps.acsUrl, { method: 'POST', body });
}

/** Full demo login; returns the jar holding the session cookie. */
export async function demoLogin(baseUrl: string, user: string, opts: { connection?: string; rd?: string } = {}): Promise<CookieJar> {
  const steps = await demoLoginUntilAcs(baseUrl, user, opts);
  const res = await postToAcs(steps);
  if (res.status !== 303) throw new Error(`ACS answered ${res.status}: ${await res.text()}`);
  return steps.jar;
}
