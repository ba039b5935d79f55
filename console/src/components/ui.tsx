// Small building blocks the views share.
import type { ComponentChildren } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { ApiError } from '../api/client';
import { useI18n, type I18n } from '../i18n/i18n';

/** grpc-gateway's code for PERMISSION_DENIED, whatever the HTTP status. */
const permissionDenied = 7;

/** isPermissionDenied tells a refusal for a missing scope (HTTP 403 / PERMISSION_DENIED). */
export function isPermissionDenied(err: unknown): err is ApiError {
  return err instanceof ApiError && (err.status === 403 || err.code === permissionDenied);
}

/** describeError puts an API or network error in words, with its fields. */
export function describeError(t: I18n, err: unknown): { title: string; fields: Array<{ field: string; description: string }> } {
  if (isPermissionDenied(err)) {
    // Name the scope the server says is missing, in the user's language.
    const scope = err.missingScopes[0] ?? '';
    const title = scope ? t.t('error.permission', { scope }) : t.t('error.permissionAny');
    return { title, fields: err.message ? [{ field: '', description: err.message }] : [] };
  }
  if (err instanceof ApiError) {
    const byStatus = `error.status.${err.status}`;
    const title = t.has(byStatus) ? t.tk(byStatus, '') : t.t('error.generic', { status: err.status });
    const fields = err.violations.length
      ? err.violations
      : err.message
        ? [{ field: '', description: err.message }]
        : [];
    return { title, fields };
  }
  return { title: t.t('error.network'), fields: [] };
}

/** ErrorBox shows an error from the API, each wrong field by name. */
export function ErrorBox({ error }: { error: unknown }) {
  const t = useI18n();
  if (!error) return null;
  const d = describeError(t, error);
  return (
    <div class="error" role="alert">
      <strong>{d.title}</strong>
      {d.fields.length > 0 && (
        <ul>
          {d.fields.map((f, i) => (
            <li key={i}>
              {f.field ? (
                <>
                  {t.t('error.field')} <code>{f.field}</code>: {f.description}
                </>
              ) : (
                f.description
              )}
            </li>
          ))}
        </ul>
      )}
    </div>
  );
}

/** useAsync runs load when deps change and keeps its result, error and state. */
export function useAsync<T>(load: () => Promise<T>, deps: unknown[]): {
  data: T | undefined; error: unknown; loading: boolean; reload: () => void;
} {
  const [state, setState] = useState<{ data?: T; error?: unknown; loading: boolean }>({ loading: true });
  const [tick, setTick] = useState(0);
  useEffect(() => {
    let live = true;
    setState((s) => ({ ...s, loading: true, error: undefined }));
    load().then(
      (data) => live && setState({ data, loading: false }),
      (error) => live && setState({ error, loading: false }),
    );
    return () => {
      live = false;
    };
  }, [...deps, tick]);
  return { data: state.data, error: state.error, loading: state.loading, reload: () => setTick((n) => n + 1) };
}

export function Loading() {
  const t = useI18n();
  return <p class="muted" aria-live="polite">{t.t('common.loading')}</p>;
}

export function Section({ title, children, id, wide }: { title: string; children: ComponentChildren; id?: string; wide?: boolean }) {
  return (
    <section class={wide ? 'card wide' : 'card'} aria-labelledby={id}>
      <h2 id={id}>{title}</h2>
      {children}
    </section>
  );
}

/** FieldError is a form message tied to its input by id. */
export function FieldError({ id, message }: { id: string; message?: string }) {
  if (!message) return null;
  return <span class="field-error" id={id}>{message}</span>;
}

export function Empty({ children }: { children: ComponentChildren }) {
  return <p class="muted">{children}</p>;
}

/** enumLabel translates an API enum value, keeping the raw value as fallback. */
export function enumLabel(t: I18n, prefix: string, value: string | undefined): string {
  if (!value) return '—';
  return t.tk(`${prefix}.${value}`, value);
}

/**
 * usePaged loads one page at a time by the API's page tokens, remembering
 * the tokens of the pages before so "previous" works without reloading all.
 */
export function usePaged<T extends { nextPageToken?: string }>(load: (pageToken: string) => Promise<T>, deps: unknown[]) {
  const [tokens, setTokens] = useState<string[]>(['']);
  // A change of what is listed starts again at the first page.
  const key = JSON.stringify(deps);
  const [lastKey, setLastKey] = useState(key);
  if (key !== lastKey) {
    setLastKey(key);
    setTokens(['']);
  }
  const current = key === lastKey ? tokens[tokens.length - 1] : '';
  const page = useAsync(() => load(current), [...deps, current]);
  const next = page.data?.nextPageToken;
  const pager = (
    <Pager
      onPrev={tokens.length > 1 ? () => setTokens(tokens.slice(0, -1)) : undefined}
      onNext={next ? () => setTokens([...tokens, next]) : undefined}
    />
  );
  return { ...page, pager };
}

function Pager({ onPrev, onNext }: { onPrev?: () => void; onNext?: () => void }) {
  const t = useI18n();
  if (!onPrev && !onNext) return null;
  return (
    <div class="pager">
      {onPrev && <button type="button" class="secondary" onClick={onPrev}>{t.t('common.prev')}</button>}
      {onNext && <button type="button" class="secondary" onClick={onNext}>{t.t('common.next')}</button>}
    </div>
  );
}

/** traitText is a customer's trait as text when it is a string or number, else a dash. */
export function traitText(c: { traits?: Record<string, unknown> } | undefined, key: string): string {
  const v = c?.traits?.[key];
  return typeof v === 'string' || typeof v === 'number' ? String(v) : '—';
}
