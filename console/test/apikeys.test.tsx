// The API keys form: its rules (validation, scopes, the body sent), the
// permission messages, and the Settings section in jsdom against a fake
// client holding the contract's shapes.
import { render } from 'preact';
import { act } from 'preact/test-utils';
import { afterEach, describe, expect, it } from 'vitest';
import { ApiError, parseError, type Client } from '../src/api/client';
import { Ctx } from '../src/app';
import {
  canUseConsole, emptyKeyForm, isRevoked, keyBody, scopes, toggleScope, validateKeyForm, type KeyForm,
} from '../src/apikeys';
import { describeError } from '../src/components/ui';
import en from '../src/i18n/messages/en.json';
import ja from '../src/i18n/messages/ja.json';
import { I18nContext, makeI18n } from '../src/i18n/i18n';
import { ApiKeys } from '../src/views/apikeys';

const form = (f: Partial<KeyForm>): KeyForm => ({ ...emptyKeyForm(), ...f });

describe('API key form rules', () => {
  it('starts as a secret key without scopes, which is not yet valid', () => {
    expect(emptyKeyForm()).toEqual({ displayName: '', kind: 'API_KEY_KIND_SECRET', scopes: [] });
    expect(validateKeyForm(emptyKeyForm())).toEqual({ displayName: 'required', scopes: 'noScope' });
  });
  it('needs a name that is not only spaces, and not too long', () => {
    expect(validateKeyForm(form({ displayName: '   ', scopes: ['admin'] }))).toEqual({ displayName: 'required' });
    expect(validateKeyForm(form({ displayName: 'x'.repeat(201), scopes: ['admin'] }))).toEqual({ displayName: 'tooLong' });
    expect(validateKeyForm(form({ displayName: 'あ'.repeat(200), scopes: ['admin'] }))).toEqual({});
  });
  it('needs at least one scope for a secret key, none for a write key', () => {
    expect(validateKeyForm(form({ displayName: 'sync', scopes: [] }))).toEqual({ scopes: 'noScope' });
    expect(validateKeyForm(form({ displayName: 'sync', scopes: ['segments:read'] }))).toEqual({});
    expect(validateKeyForm(form({ displayName: 'website', kind: 'API_KEY_KIND_WRITE' }))).toEqual({});
  });
  it('keeps ticked scopes in the listed order, once each', () => {
    let s = toggleScope([], 'admin', true);
    s = toggleScope(s, 'segments:read', true);
    s = toggleScope(s, 'segments:read', true);
    expect(s).toEqual(['segments:read', 'admin']);
    expect(toggleScope(s, 'admin', false)).toEqual(['segments:read']);
  });
  it('sends a secret key with its scopes and a trimmed name', () => {
    expect(keyBody(form({ displayName: ' kintone sync ', scopes: ['metrics:read', 'profiles:read'] }))).toEqual({
      displayName: 'kintone sync', kind: 'API_KEY_KIND_SECRET', scopes: ['profiles:read', 'metrics:read'],
    });
  });
  it('sends a write key with exactly track, whatever was ticked before switching kind', () => {
    expect(keyBody(form({ displayName: 'website', kind: 'API_KEY_KIND_WRITE', scopes: ['admin', 'segments:write'] }))).toEqual({
      displayName: 'website', kind: 'API_KEY_KIND_WRITE', scopes: ['track'],
    });
  });
  it('tells a revoked key by its revoke time', () => {
    expect(isRevoked({ displayName: 'a', kind: 'API_KEY_KIND_SECRET' })).toBe(false);
    expect(isRevoked({ displayName: 'a', kind: 'API_KEY_KIND_SECRET', revokeTime: '1970-01-01T00:00:00Z' })).toBe(false);
    expect(isRevoked({ displayName: 'a', kind: 'API_KEY_KIND_SECRET', revokeTime: '2026-12-06T01:00:00Z' })).toBe(true);
  });
  it('refuses only a track-only key for the console', () => {
    expect(canUseConsole(['track'])).toBe(false);
    expect(canUseConsole(['track', 'segments:read'])).toBe(true);
    expect(canUseConsole(['admin'])).toBe(true);
    expect(canUseConsole([])).toBe(true);
    expect(canUseConsole(undefined)).toBe(true);
  });
  it('describes every scope in both languages', () => {
    for (const s of scopes) {
      expect(en, s).toHaveProperty([`scope.${s}`]);
      expect(ja, s).toHaveProperty([`scope.${s}`]);
    }
  });
});

describe('permission errors', () => {
  it('reads the missing scopes from the refusal\'s ErrorInfo, not its message', () => {
    const info = { '@type': 'type.googleapis.com/google.rpc.ErrorInfo', reason: 'SCOPE_MISSING', metadata: { scopes: 'segments:read profiles:read' } };
    expect(parseError(403, { code: 7, message: 'x', details: [info] }).missingScopes).toEqual(['segments:read', 'profiles:read']);
    expect(parseError(403, { code: 7, message: 'API key lacks scope "admin"' }).missingScopes).toEqual([]);
    expect(parseError(403, { code: 7, details: [{ ...info, reason: 'OTHER' }] }).missingScopes).toEqual([]);
  });
  it('words a 403 in the language, naming the scope', () => {
    const err = new ApiError(403, 7, 'API key lacks scope metrics:write', [], ['metrics:write']);
    expect(describeError(makeI18n('en'), err).title).toBe(
      'This API key lacks the permission “metrics:write” needed for this. Ask an admin for a key with that scope.');
    expect(describeError(makeI18n('ja'), err).title).toContain('権限「metrics:write」がありません');
    expect(describeError(makeI18n('en'), err).fields).toEqual([{ field: '', description: 'API key lacks scope metrics:write' }]);
  });
  it('words PERMISSION_DENIED without a scope, whatever the status', () => {
    expect(describeError(makeI18n('en'), new ApiError(400, 7, '', [])).title).toBe(en['error.permissionAny']);
    expect(describeError(makeI18n('en'), new ApiError(404, 5, '', [])).title).toBe(en['error.status.404']);
  });
});

type Call = [string, string, unknown];

/** fakeKeys answers the three key calls as the contract says, recording them. */
function fakeKeys(calls: Call[], opts: { revokeError?: ApiError } = {}): Client {
  const keys = [
    { apiKeyId: 'key_1', displayName: 'Console', kind: 'API_KEY_KIND_SECRET', scopes: ['admin'], keyPrefix: 'kz_Adm1', createTime: '2026-12-01T03:00:00Z' },
    { apiKeyId: 'key_0', displayName: 'Website', kind: 'API_KEY_KIND_WRITE', scopes: ['track'], keyPrefix: 'kz_Web0',
      createTime: '2026-11-01T03:00:00Z', revokeTime: '2026-12-04T20:00:00Z' },
  ];
  return {
    get: async <T,>(path: string, query?: Record<string, unknown>) => {
      calls.push(['GET', path, query]);
      return { apiKeys: keys } as T;
    },
    text: async () => '',
    post: async <T,>(path: string, body?: unknown) => {
      calls.push(['POST', path, body]);
      if (path === '/v1/apiKeys') {
        const k = { ...(body as object), apiKeyId: 'key_2', keyPrefix: 'kz_New2', createTime: '2026-12-06T03:00:00Z' };
        keys.unshift(k as (typeof keys)[number]);
        return { apiKey: k, key: 'kz_New2SECRETSECRETSECRET' } as T;
      }
      if (opts.revokeError) throw opts.revokeError;
      return { apiKey: keys[0] } as T;
    },
    patch: async <T,>() => ({}) as T,
    del: async <T,>() => ({}) as T,
  };
}

async function settle() {
  for (let i = 0; i < 5; i++) await act(async () => { await new Promise((r) => setTimeout(r, 0)); });
}

async function mount(api: Client, lang: 'en' | 'ja' = 'en'): Promise<HTMLElement> {
  const el = document.createElement('div');
  document.body.append(el);
  await act(async () => {
    render(
      <I18nContext.Provider value={makeI18n(lang, 'Asia/Tokyo')}>
        <Ctx.Provider value={{ api, workspace: { timezone: 'Asia/Tokyo' }, setWorkspace: () => {} }}><ApiKeys /></Ctx.Provider>
      </I18nContext.Provider>,
      el,
    );
  });
  await settle();
  return el;
}

const button = (el: HTMLElement, text: string) =>
  [...el.querySelectorAll('button')].find((b) => b.textContent === text) as HTMLButtonElement;
async function click(b: HTMLElement) {
  await act(async () => b.click());
  await settle();
}
async function type(input: HTMLInputElement, value: string) {
  await act(async () => {
    input.value = value;
    input.dispatchEvent(new Event('input', { bubbles: true }));
  });
}

describe('API keys section', () => {
  afterEach(() => {
    document.body.innerHTML = '';
    sessionStorage.clear();
    localStorage.clear();
  });

  it('lists keys with kind, scopes, prefix, dates and state in the locale', async () => {
    const el = await mount(fakeKeys([]), 'ja');
    const rows = [...el.querySelectorAll('tr[data-api-key]')];
    expect(rows.map((r) => r.getAttribute('data-state'))).toEqual(['active', 'revoked']);
    expect(rows[0].textContent).toContain('シークレットキー');
    expect(rows[0].textContent).toContain('kz_Adm1…');
    expect(rows[0].textContent).toContain('2026年12月1日');
    expect(rows[0].textContent).toContain('有効');
    expect(rows[1].textContent).toContain('書き込みキー');
    // Revoked at 20:00 UTC on the 4th is the 5th in Tokyo.
    expect(rows[1].textContent).toContain('2026年12月5日に無効化');
    expect(rows[1].querySelector('button')).toBeNull();
  });

  it('validates before calling, then sends the secret key with its scopes and shows the key once', async () => {
    const calls: Call[] = [];
    const el = await mount(fakeKeys(calls));
    await click(button(el, 'Create an API key'));
    await click(button(el, 'Create key'));
    expect(calls.filter((c) => c[0] === 'POST')).toEqual([]);
    expect(el.querySelector('#err-key-name')!.textContent).toBe('Enter a name.');
    expect(el.querySelector('#err-key-scopes')!.textContent).toBe('Choose at least one permission.');
    expect(el.querySelector('#f-key-name')!.getAttribute('aria-invalid')).toBe('true');

    await type(el.querySelector('#f-key-name') as HTMLInputElement, 'Segment export');
    const box = el.querySelector('input[type="checkbox"][value="segments:read"]') as HTMLInputElement;
    await click(box);
    expect(el.querySelector('#err-key-scopes')).toBeNull();
    await click(button(el, 'Create key'));
    expect(calls.filter((c) => c[0] === 'POST')).toEqual([
      ['POST', '/v1/apiKeys', { displayName: 'Segment export', kind: 'API_KEY_KIND_SECRET', scopes: ['segments:read'] }],
    ]);
    const shown = el.querySelector('[data-created-key]') as HTMLInputElement;
    expect(shown.value).toBe('kz_New2SECRETSECRETSECRET');
    expect(shown.readOnly).toBe(true);
    expect(el.textContent).toContain('it will not be shown again');
    // The new key is in the list (reloaded) and in no storage.
    expect(el.querySelector('tr[data-api-key="key_2"]')!.textContent).toContain('segments:read');
    expect(JSON.stringify({ ...sessionStorage }) + JSON.stringify({ ...localStorage })).not.toContain('SECRET');
    // Once dismissed it is gone for good.
    await click(button(el, 'I have stored the key'));
    expect(el.querySelector('[data-created-key]')).toBeNull();
    expect(el.textContent).not.toContain('SECRETSECRET');
  });

  it('hides the scopes for a write key and sends track only', async () => {
    const calls: Call[] = [];
    const el = await mount(fakeKeys(calls));
    await click(button(el, 'Create an API key'));
    await type(el.querySelector('#f-key-name') as HTMLInputElement, 'Website');
    await click(el.querySelector('input[type="checkbox"][value="admin"]') as HTMLInputElement);
    await click(el.querySelector('input[type="radio"][value="API_KEY_KIND_WRITE"]') as HTMLInputElement);
    expect(el.querySelector('input[type="checkbox"]')).toBeNull();
    await click(button(el, 'Create key'));
    expect(calls.filter((c) => c[0] === 'POST')[0][2]).toEqual({ displayName: 'Website', kind: 'API_KEY_KIND_WRITE', scopes: ['track'] });
  });

  it('revokes after confirming, and says in words that the key in use cannot revoke itself', async () => {
    const calls: Call[] = [];
    let el = await mount(fakeKeys(calls));
    await click(button(el, 'Revoke'));
    expect(el.querySelector('dialog')!.textContent).toContain('“Console” (kz_Adm1…) will stop working');
    expect(calls.filter((c) => c[0] === 'POST')).toEqual([]);
    await click(button(el, 'Revoke the key'));
    expect(calls.filter((c) => c[0] === 'POST')).toEqual([['POST', '/v1/apiKeys/key_1:revoke', {}]]);
    expect(el.querySelector('dialog')).toBeNull();
    expect(el.textContent).toContain('The key “Console” is revoked.');

    document.body.innerHTML = '';
    el = await mount(fakeKeys([], { revokeError: new ApiError(400, 9, 'an API key cannot revoke itself', []) }));
    await click(button(el, 'Revoke'));
    await click(button(el, 'Revoke the key'));
    expect(el.querySelector('dialog [role="alert"]')!.textContent).toBe(en['apiKeys.revokeSelf']);
  });

  it('says which permission is missing when the list is refused', async () => {
    const api = fakeKeys([]);
    api.get = async () => { throw new ApiError(403, 7, 'API key lacks scope "admin"', [], ['admin']); };
    const el = await mount(api);
    expect(el.querySelector('[role="alert"]')!.textContent).toContain('lacks the permission “admin”');
    expect(el.textContent).not.toContain(en['apiKeys.none']);
  });
});
