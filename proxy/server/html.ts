/** Escapes text for HTML element content and quoted attributes. */
export function esc(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

const STYLE = `body{font:15px/1.5 system-ui,sans-serif;max-width:36rem;margin:4rem auto;padding:0 1rem;color:#1d232b}
h1{font-size:1.3rem}code{background:#eef1f4;padding:.1rem .3rem;border-radius:3px}
.muted{color:#5b6673;font-size:.85rem}button,.button{font:inherit;padding:.45rem 1rem;border:1px solid #2b5fb4;background:#2f6fd6;color:#fff;border-radius:4px;cursor:pointer;text-decoration:none;display:inline-block;margin:.2rem 0}
.demo{background:#fff4d6;border:1px solid #e0b443;padding:.5rem .8rem;border-radius:4px}`;

/** A complete Gatehouse page. `body` must already be escaped HTML. */
export function page(title: string, body: string): string {
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1"><title>${esc(title)} · Gatehouse</title><style>${STYLE}</style></head><body>${body}</body></html>`;
}

/** An error page that shows the public message, the code and the request id, nothing internal. */
export function errorPage(title: string, message: string, code: string, requestId: string, extra = ''): string {
  return page(
    title,
    `<h1>${esc(title)}</h1><p>${esc(message)}</p>${extra}<p class="muted">Error <code>${esc(code)}</code> · request <code>${esc(requestId)}</code></p>`,
  );
}
