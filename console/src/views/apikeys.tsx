// Settings › API keys: the workspace's keys, a form to create one (the key
// is shown once, held in this component's state only: never in a URL, a
// log, localStorage or the session storage the sign-in uses), and revoking
// with a confirmation.
import { useEffect, useRef, useState } from 'preact/hooks';
import { ApiError } from '../api/client';
import type { APIKey, CreateAPIKeyResponse, ListAPIKeysResponse, RevokeAPIKeyResponse } from '../api/types';
import { useApp } from '../app';
import {
  emptyKeyForm, isRevoked, keyBody, scopes, toggleScope, validateKeyForm, type KeyForm, type KeyFormErrors, type KeyKind,
} from '../apikeys';
import { Empty, ErrorBox, FieldError, Loading, Section, enumLabel, usePaged } from '../components/ui';
import { useI18n, type MessageKey } from '../i18n/i18n';

/** grpc-gateway's code for FAILED_PRECONDITION (a key revoking itself). */
const failedPrecondition = 9;

export function ApiKeys() {
  const t = useI18n();
  const { api } = useApp();
  const [version, setVersion] = useState(0);
  const [creating, setCreating] = useState(false);
  const [created, setCreated] = useState<CreateAPIKeyResponse | null>(null);
  const [revoking, setRevoking] = useState<APIKey | null>(null);
  const [notice, setNotice] = useState('');
  const r = usePaged((pageToken) => api.get<ListAPIKeysResponse>('/v1/apiKeys', { pageSize: 50, pageToken }), [version]);
  const list = r.data?.apiKeys ?? [];
  return (
    <Section title={t.t('apiKeys.title')} id="sec-api-keys">
      <p class="muted small">{t.t('apiKeys.help')}</p>
      <ErrorBox error={r.error} />
      <p aria-live="polite" class="ok">{notice}</p>
      {r.loading && !r.data ? <Loading /> : list.length === 0 ? (!r.error && <Empty>{t.t('apiKeys.none')}</Empty>) : (
        <table class="api-keys">
          <caption class="sr-only">{t.t('apiKeys.title')}</caption>
          <thead><tr>
            <th scope="col">{t.t('apiKeys.name')}</th><th scope="col">{t.t('apiKeys.kind')}</th>
            <th scope="col">{t.t('apiKeys.scopes')}</th><th scope="col">{t.t('apiKeys.prefix')}</th>
            <th scope="col">{t.t('apiKeys.created')}</th><th scope="col">{t.t('apiKeys.state')}</th>
            <th scope="col"><span class="sr-only">{t.t('common.actions')}</span></th>
          </tr></thead>
          <tbody>
            {list.map((k) => {
              const revoked = isRevoked(k);
              return (
                <tr key={k.apiKeyId} data-api-key={k.apiKeyId} data-state={revoked ? 'revoked' : 'active'}>
                  <td>{k.displayName}</td>
                  <td>{enumLabel(t, 'apiKeyKind', k.kind)}</td>
                  <td>{(k.scopes ?? []).length ? (k.scopes ?? []).map((s) => <code key={s} class="scope">{s}</code>) : '—'}</td>
                  <td><code>{k.keyPrefix ? `${k.keyPrefix}…` : '—'}</code></td>
                  <td>{t.date(k.createTime)}</td>
                  <td>{revoked
                    ? <span class="badge REVOKED">{t.t('apiKeys.revokedOn', { date: t.date(k.revokeTime) })}</span>
                    : <span class="badge ACTIVE">{t.t('apiKeys.active')}</span>}</td>
                  <td>
                    {!revoked && (
                      <button type="button" class="secondary danger" aria-label={t.t('apiKeys.revokeNamed', { name: k.displayName })}
                        onClick={() => { setNotice(''); setRevoking(k); }}>
                        {t.t('apiKeys.revoke')}
                      </button>
                    )}
                  </td>
                </tr>
              );
            })}
          </tbody>
        </table>
      )}
      {r.pager}
      {created ? (
        <CreatedKey created={created} onDone={() => setCreated(null)} />
      ) : creating ? (
        <KeyEditor
          onCreated={(c) => { setCreating(false); setCreated(c); setVersion((v) => v + 1); }}
          onCancel={() => setCreating(false)}
        />
      ) : (
        <button type="button" onClick={() => { setNotice(''); setCreating(true); }}>{t.t('apiKeys.add')}</button>
      )}
      {revoking && (
        <RevokeDialog
          apiKey={revoking}
          onClose={(done) => {
            if (done) {
              setNotice(t.t('apiKeys.revokedNotice', { name: revoking.displayName }));
              setVersion((v) => v + 1);
            }
            setRevoking(null);
          }}
        />
      )}
    </Section>
  );
}

const problemText: Record<NonNullable<KeyFormErrors[keyof KeyFormErrors]>, MessageKey> = {
  required: 'apiKeys.err.required',
  tooLong: 'apiKeys.err.tooLong',
  noScope: 'apiKeys.err.noScope',
};

function KeyEditor({ onCreated, onCancel }: { onCreated(c: CreateAPIKeyResponse): void; onCancel(): void }) {
  const t = useI18n();
  const { api } = useApp();
  const [f, setF] = useState<KeyForm>(emptyKeyForm);
  // Problems show once the user tried to save, then follow each change.
  const [tried, setTried] = useState(false);
  const [error, setError] = useState<unknown>();
  const [busy, setBusy] = useState(false);
  const errs = tried ? validateKeyForm(f) : {};
  const nameRef = useRef<HTMLInputElement>(null);
  const scopeRef = useRef<HTMLInputElement>(null);
  useEffect(() => nameRef.current?.focus(), []);
  const save = async (e: Event) => {
    e.preventDefault();
    setTried(true);
    const problems = validateKeyForm(f);
    if (problems.displayName) return nameRef.current?.focus();
    if (problems.scopes) return scopeRef.current?.focus();
    setError(undefined);
    setBusy(true);
    try {
      onCreated(await api.post<CreateAPIKeyResponse>('/v1/apiKeys', keyBody(f)));
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };
  const kindOption = (kind: KeyKind, label: MessageKey, help: MessageKey) => (
    <div class="choice">
      <label class="radio">
        <input type="radio" name="api-key-kind" value={kind} checked={f.kind === kind} aria-describedby={`help-${kind}`}
          onChange={() => setF({ ...f, kind })} />
        {t.t(label)}
      </label>
      <span class="muted small" id={`help-${kind}`}>{t.t(help)}</span>
    </div>
  );
  return (
    <form class="card" onSubmit={save} noValidate aria-labelledby="h-new-key">
      <h3 id="h-new-key">{t.t('apiKeys.add')}</h3>
      <div class="field">
        <label for="f-key-name">{t.t('apiKeys.name')}</label>
        <input id="f-key-name" ref={nameRef} type="text" value={f.displayName} required autoComplete="off"
          aria-invalid={errs.displayName ? 'true' : undefined} aria-describedby="help-key-name err-key-name"
          onInput={(e) => setF({ ...f, displayName: e.currentTarget.value })} />
        <span class="muted small" id="help-key-name">{t.t('apiKeys.nameHelp')}</span>
        <FieldError id="err-key-name" message={errs.displayName && t.t(problemText[errs.displayName])} />
      </div>
      <fieldset>
        <legend>{t.t('apiKeys.kind')}</legend>
        {kindOption('API_KEY_KIND_SECRET', 'apiKeyKind.API_KEY_KIND_SECRET', 'apiKeys.secretHelp')}
        {kindOption('API_KEY_KIND_WRITE', 'apiKeyKind.API_KEY_KIND_WRITE', 'apiKeys.writeHelp')}
      </fieldset>
      {f.kind === 'API_KEY_KIND_SECRET' ? (
        <fieldset aria-describedby="err-key-scopes" aria-invalid={errs.scopes ? 'true' : undefined}>
          <legend>{t.t('apiKeys.scopes')}</legend>
          <p class="muted small">{t.t('apiKeys.scopesHelp')}</p>
          {scopes.map((s, i) => (
            <div class="choice" key={s}>
              <label class="check">
                <input type="checkbox" ref={i === 0 ? scopeRef : undefined} value={s} checked={f.scopes.includes(s)}
                  aria-describedby={`help-scope-${i}`}
                  onChange={(e) => setF({ ...f, scopes: toggleScope(f.scopes, s, e.currentTarget.checked) })} />
                <code>{s}</code>
              </label>
              <span class="muted small" id={`help-scope-${i}`}>{t.t(`scope.${s}` as MessageKey)}</span>
            </div>
          ))}
          <FieldError id="err-key-scopes" message={errs.scopes && t.t(problemText[errs.scopes])} />
        </fieldset>
      ) : (
        <p class="muted small">{t.t('apiKeys.writeScopes')}</p>
      )}
      <ErrorBox error={error} />
      <div class="actions">
        <button type="submit" disabled={busy}>{t.t('apiKeys.create')}</button>
        <button type="button" class="secondary" onClick={onCancel}>{t.t('common.cancel')}</button>
      </div>
    </form>
  );
}

/** CreatedKey shows the new key this once, with a copy button. */
function CreatedKey({ created, onDone }: { created: CreateAPIKeyResponse; onDone(): void }) {
  const t = useI18n();
  const field = useRef<HTMLInputElement>(null);
  const [copied, setCopied] = useState('');
  useEffect(() => {
    field.current?.focus();
    field.current?.select();
  }, []);
  const copy = async () => {
    const key = created.key ?? '';
    try {
      await navigator.clipboard.writeText(key);
      setCopied(t.t('apiKeys.copied'));
    } catch {
      // No clipboard permission: select the key so Ctrl+C copies it.
      field.current?.focus();
      field.current?.select();
      setCopied(t.t('apiKeys.copyByHand'));
    }
  };
  return (
    <div class="card new-key" role="region" aria-labelledby="h-created-key">
      <h3 id="h-created-key">{t.t('apiKeys.createdTitle', { name: created.apiKey?.displayName ?? '' })}</h3>
      <p class="warn" id="key-once"><strong>{t.t('apiKeys.once')}</strong></p>
      <div class="field">
        <label for="f-created-key">{t.t('apiKeys.key')}</label>
        <div class="row">
          <input id="f-created-key" ref={field} class="mono" type="text" readOnly value={created.key ?? ''}
            autoComplete="off" spellcheck={false} aria-describedby="key-once" data-created-key />
          <button type="button" onClick={copy}>{t.t('apiKeys.copy')}</button>
        </div>
      </div>
      <p aria-live="polite" class="ok">{copied}</p>
      <button type="button" class="secondary" onClick={onDone}>{t.t('apiKeys.stored')}</button>
    </div>
  );
}

/** RevokeDialog asks before revoking; the server refuses the key in use. */
function RevokeDialog({ apiKey, onClose }: { apiKey: APIKey; onClose(done: boolean): void }) {
  const t = useI18n();
  const { api } = useApp();
  const ref = useRef<HTMLDialogElement>(null);
  const [error, setError] = useState<unknown>();
  const [selfRevoke, setSelfRevoke] = useState(false);
  const [busy, setBusy] = useState(false);
  useEffect(() => {
    // Keyboard users get back to where they were when the dialog closes.
    const before = document.activeElement as HTMLElement | null;
    const d = ref.current;
    if (d && typeof d.showModal === 'function' && !d.open) d.showModal();
    return () => {
      if (before?.isConnected) before.focus();
    };
  }, []);
  const revoke = async () => {
    setError(undefined);
    setSelfRevoke(false);
    setBusy(true);
    try {
      await api.post<RevokeAPIKeyResponse>(`/v1/apiKeys/${encodeURIComponent(apiKey.apiKeyId ?? '')}:revoke`, {});
      onClose(true);
    } catch (err) {
      if (err instanceof ApiError && err.code === failedPrecondition) setSelfRevoke(true);
      else setError(err);
    } finally {
      setBusy(false);
    }
  };
  return (
    <dialog ref={ref} class="confirm" aria-labelledby="h-revoke" aria-describedby="revoke-what"
      onCancel={(e) => { e.preventDefault(); onClose(false); }}>
      <h3 id="h-revoke">{t.t('apiKeys.revokeTitle')}</h3>
      <p id="revoke-what">{t.t('apiKeys.revokeConfirm', { name: apiKey.displayName, prefix: apiKey.keyPrefix ?? '' })}</p>
      {selfRevoke && <p class="error" role="alert">{t.t('apiKeys.revokeSelf')}</p>}
      <ErrorBox error={error} />
      <div class="actions">
        <button type="button" class="danger solid" disabled={busy} onClick={revoke}>{t.t('apiKeys.revokeYes')}</button>
        <button type="button" class="secondary" onClick={() => onClose(false)}>{t.t('common.cancel')}</button>
      </div>
    </dialog>
  );
}
