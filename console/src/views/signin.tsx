import { useState } from 'preact/hooks';
import { verifyKey } from '../api/client';
import { canUseConsole } from '../apikeys';
import { ErrorBox } from '../components/ui';
import { useI18n } from '../i18n/i18n';
import type { Session } from '../session';

/** SignIn takes an API key and checks it with the gateway before keeping it. */
export function SignIn({ onSignedIn }: { onSignedIn(s: Session): void }) {
  const t = useI18n();
  const [key, setKey] = useState('');
  const [error, setError] = useState<unknown>();
  const [writeKey, setWriteKey] = useState(false);
  const [busy, setBusy] = useState(false);
  const submit = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    setError(undefined);
    setWriteKey(false);
    try {
      const k = key.trim();
      const { workspaceId, scopes } = await verifyKey(k);
      // A write key only sends tracking calls: say so instead of opening
      // a console whose every view would be refused.
      if (!canUseConsole(scopes)) {
        setWriteKey(true);
        return;
      }
      onSignedIn({ key: k, workspaceId, scopes });
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };
  return (
    <form class="card signin" onSubmit={submit}>
      <h1>{t.t('signin.title')}</h1>
      <p class="muted">{t.t('signin.help')}</p>
      <label for="api-key">{t.t('signin.key')}</label>
      <input
        id="api-key"
        type="password"
        autoComplete="off"
        spellcheck={false}
        required
        value={key}
        onInput={(e) => setKey(e.currentTarget.value)}
      />
      <button type="submit" disabled={busy || !key.trim()}>{t.t('signin.submit')}</button>
      <ErrorBox error={error} />
      {writeKey && <p class="error" role="alert">{t.t('signin.writeKey')}</p>}
    </form>
  );
}
