import { useState } from 'preact/hooks';
import type { Channel, ChannelType, FrequencyCap, Workspace } from '../api/types';
import { useApp } from '../app';
import { Empty, ErrorBox, Loading, Section, enumLabel, useAsync } from '../components/ui';
import { useI18n, type MessageKey } from '../i18n/i18n';
import { ApiKeys } from './apikeys';
import { splitDuration, durationOf, units, type Unit } from '../journey/form';

const zones = ['Asia/Tokyo', 'Asia/Seoul', 'Asia/Shanghai', 'Asia/Singapore', 'Asia/Bangkok', 'Australia/Sydney',
  'Europe/London', 'Europe/Berlin', 'America/New_York', 'America/Los_Angeles', 'UTC'];
const capTypes: ChannelType[] = ['EMAIL', 'LINE', 'WEBHOOK'];

/** Settings edits the workspace's sending rules, its channels and its API keys. */
export function Settings() {
  const t = useI18n();
  return (
    <>
      <h1>{t.t('settings.title')}</h1>
      <WorkspaceSettings />
      <Channels />
      <ApiKeys />
    </>
  );
}

interface CapRow { maxSends: string; amount: string; unit: Unit }

function WorkspaceSettings() {
  const t = useI18n();
  const { api, workspace, setWorkspace } = useApp();
  const [zone, setZone] = useState(workspace.timezone || 'Asia/Tokyo');
  const [quietOn, setQuietOn] = useState(!!workspace.quietHours?.start);
  const [start, setStart] = useState(workspace.quietHours?.start || '21:00');
  const [end, setEnd] = useState(workspace.quietHours?.end || '09:00');
  const [caps, setCaps] = useState<Record<string, CapRow>>(() => {
    const out: Record<string, CapRow> = {};
    for (const c of workspace.frequencyCaps ?? []) {
      out[c.channelType ?? ''] = { maxSends: String(c.maxSends ?? ''), ...splitDuration(c.period) };
    }
    return out;
  });
  const [error, setError] = useState<unknown>();
  const [saved, setSaved] = useState('');
  const save = async (e: Event) => {
    e.preventDefault();
    setError(undefined);
    setSaved('');
    const frequencyCaps: FrequencyCap[] = Object.entries(caps).map(([type, c]) => ({
      channelType: type as ChannelType, maxSends: Number(c.maxSends), period: durationOf(c.amount, c.unit),
    }));
    try {
      const r = await api.patch<{ workspace: Workspace }>(
        `/v1/workspaces/${encodeURIComponent(workspace.workspaceId ?? '')}`,
        { timezone: zone, ...(quietOn && { quietHours: { start, end } }), frequencyCaps },
        { updateMask: 'timezone,quietHours,frequencyCaps' },
      );
      setWorkspace(r.workspace);
      setSaved(t.t('settings.saved'));
    } catch (err) {
      setError(err);
    }
  };
  return (
    <form onSubmit={save}>
      <Section title={t.t('settings.sending')} id="sec-sending">
        <div class="field">
          <label for="f-timezone">{t.t('settings.timezone')}</label>
          <select id="f-timezone" value={zone} onChange={(e) => setZone(e.currentTarget.value)}>
            {[...new Set([zone, ...zones])].map((z) => <option key={z} value={z}>{z}</option>)}
          </select>
          <span class="muted small">{t.t('settings.timezoneHelp')}</span>
        </div>
        <fieldset>
          <legend>{t.t('settings.quietHours')}</legend>
          <label class="check">
            <input type="checkbox" checked={quietOn} onChange={(e) => setQuietOn(e.currentTarget.checked)} />
            {t.t('settings.quietOn')}
          </label>
          {quietOn && (
            <div class="row">
              <div class="field"><label for="f-quiet-start">{t.t('settings.from')}</label>
                <input id="f-quiet-start" type="time" value={start} onInput={(e) => setStart(e.currentTarget.value)} /></div>
              <div class="field"><label for="f-quiet-end">{t.t('settings.to')}</label>
                <input id="f-quiet-end" type="time" value={end} onInput={(e) => setEnd(e.currentTarget.value)} /></div>
            </div>
          )}
        </fieldset>
        <fieldset>
          <legend>{t.t('settings.caps')}</legend>
          <p class="muted small">{t.t('settings.capsHelp')}</p>
          {capTypes.map((type) => {
            const c = caps[type ?? ''];
            const id = `f-cap-${type}`;
            return (
              <div class="row" key={type}>
                <label class="check">
                  <input type="checkbox" checked={!!c} onChange={(e) => {
                    const next = { ...caps };
                    if (e.currentTarget.checked) next[type ?? ''] = { maxSends: '3', amount: '7', unit: 'days' };
                    else delete next[type ?? ''];
                    setCaps(next);
                  }} />
                  {enumLabel(t, 'channelType', type)}
                </label>
                {c && (
                  <>
                    <div class="field inline">
                      <label for={`${id}-max`}>{t.t('settings.maxSends')}</label>
                      <input id={`${id}-max`} type="number" min="1" value={c.maxSends}
                        onInput={(e) => setCaps({ ...caps, [type ?? '']: { ...c, maxSends: e.currentTarget.value } })} />
                    </div>
                    <div class="field inline">
                      <label for={`${id}-per`}>{t.t('settings.per')}</label>
                      <input id={`${id}-per`} type="number" min="1" value={c.amount}
                        onInput={(e) => setCaps({ ...caps, [type ?? '']: { ...c, amount: e.currentTarget.value } })} />
                      <label for={`${id}-unit`} class="sr-only">{t.t('journey.unit')}</label>
                      <select id={`${id}-unit`} value={c.unit} onChange={(e) => setCaps({ ...caps, [type ?? '']: { ...c, unit: e.currentTarget.value as Unit } })}>
                        {units.map((u) => <option key={u} value={u}>{t.t(`unit.${u}` as MessageKey)}</option>)}
                      </select>
                    </div>
                  </>
                )}
              </div>
            );
          })}
        </fieldset>
        <ErrorBox error={error} />
        <p aria-live="polite" class="ok">{saved}</p>
        <button type="submit">{t.t('settings.save')}</button>
      </Section>
    </form>
  );
}

type Kind = 'email' | 'line' | 'webhook';

interface ChannelForm {
  displayName: string; kind: Kind;
  host: string; port: string; security: string; username: string; password: string; fromAddress: string; fromName: string; replyTo: string;
  channelAccessToken: string; channelSecret: string; apiBaseUrl: string;
  url: string; signingSecret: string;
}

function channelForm(c?: Channel): ChannelForm {
  return {
    displayName: c?.displayName ?? '', kind: c?.line ? 'line' : c?.webhook ? 'webhook' : 'email',
    host: c?.email?.host ?? '', port: String(c?.email?.port ?? 587), security: c?.email?.security ?? 'STARTTLS',
    username: c?.email?.username ?? '', password: '', fromAddress: c?.email?.fromAddress ?? '', fromName: c?.email?.fromName ?? '',
    replyTo: c?.email?.replyTo ?? '', channelAccessToken: '', channelSecret: '', apiBaseUrl: c?.line?.apiBaseUrl ?? '',
    url: c?.webhook?.url ?? '', signingSecret: '',
  };
}

/**
 * channelBody is the Channel to send. Secrets are write-only: an empty
 * secret field is left out, so the stored one stays (the server keeps a
 * secret left empty).
 */
export function channelBody(f: ChannelForm): Channel {
  const opt = (k: string, v: string) => (v ? { [k]: v } : {});
  switch (f.kind) {
    case 'email':
      return { displayName: f.displayName, email: {
        host: f.host, port: Number(f.port), security: f.security as NonNullable<Channel['email']>['security'], username: f.username,
        ...opt('password', f.password), fromAddress: f.fromAddress, fromName: f.fromName, replyTo: f.replyTo,
      } };
    case 'line':
      return { displayName: f.displayName, line: {
        ...opt('channelAccessToken', f.channelAccessToken), ...opt('channelSecret', f.channelSecret), apiBaseUrl: f.apiBaseUrl,
      } };
    case 'webhook':
      return { displayName: f.displayName, webhook: { url: f.url, ...opt('signingSecret', f.signingSecret) } };
  }
}

function Channels() {
  const t = useI18n();
  const { api } = useApp();
  const [version, setVersion] = useState(0);
  const [editing, setEditing] = useState<Channel | 'new' | null>(null);
  const [error, setError] = useState<unknown>();
  const r = useAsync(() => api.get<{ channels?: Channel[] }>('/v1/channels', { pageSize: 1000 }), [version]);
  const remove = async (c: Channel) => {
    if (!confirm(t.t('channel.confirmDelete', { name: c.displayName ?? '' }))) return;
    setError(undefined);
    try {
      await api.del(`/v1/channels/${encodeURIComponent(c.channelId ?? '')}`);
      setVersion((v) => v + 1);
    } catch (err) {
      setError(err);
    }
  };
  const list = r.data?.channels ?? [];
  return (
    <Section title={t.t('settings.channels')} id="sec-channels">
      <ErrorBox error={r.error ?? error} />
      {r.loading && !r.data ? <Loading /> : list.length === 0 ? <Empty>{t.t('channel.none')}</Empty> : (
        <table>
          <thead><tr>
            <th scope="col">{t.t('channel.name')}</th><th scope="col">{t.t('channel.type')}</th>
            <th scope="col">{t.t('channel.target')}</th><th scope="col">{t.t('channel.secret')}</th>
            <th scope="col"><span class="sr-only">{t.t('common.actions')}</span></th>
          </tr></thead>
          <tbody>
            {list.map((c) => {
              const secretSet = c.email ? c.email.passwordSet : c.line ? c.line.channelAccessTokenSet : c.webhook?.signingSecretSet;
              return (
                <tr key={c.channelId} data-channel={c.channelId}>
                  <td>{c.displayName}</td>
                  <td>{enumLabel(t, 'channelType', c.type)}</td>
                  <td>{c.email ? `${c.email.fromAddress} (${c.email.host}:${c.email.port})` : c.webhook ? c.webhook.url : c.line?.webhookPath}</td>
                  <td>{secretSet ? t.t('channel.secretSet') : t.t('channel.secretUnset')}</td>
                  <td>
                    <div class="actions tight">
                      <button type="button" class="secondary" onClick={() => setEditing(c)}>{t.t('common.edit')}</button>
                      <button type="button" class="secondary danger" onClick={() => remove(c)}>{t.t('common.delete')}</button>
                    </div>
                  </td>
                </tr>
              );
            })}
          </tbody>
        </table>
      )}
      {editing ? (
        <ChannelEditor channel={editing === 'new' ? undefined : editing} onDone={() => { setEditing(null); setVersion((v) => v + 1); }} onCancel={() => setEditing(null)} />
      ) : (
        <button type="button" onClick={() => setEditing('new')}>{t.t('channel.add')}</button>
      )}
    </Section>
  );
}

function ChannelEditor({ channel, onDone, onCancel }: { channel?: Channel; onDone(): void; onCancel(): void }) {
  const t = useI18n();
  const { api } = useApp();
  const [f, setF] = useState(() => channelForm(channel));
  const [error, setError] = useState<unknown>();
  const set = (patch: Partial<ChannelForm>) => setF({ ...f, ...patch });
  const save = async (e: Event) => {
    e.preventDefault();
    setError(undefined);
    try {
      if (channel) await api.patch(`/v1/channels/${encodeURIComponent(channel.channelId ?? '')}`, channelBody(f));
      else await api.post('/v1/channels', channelBody(f));
      onDone();
    } catch (err) {
      setError(err);
    }
  };
  const input = (key: keyof ChannelForm, label: MessageKey, type = 'text', secretSet?: boolean) => (
    <div class="field">
      <label for={`f-ch-${key}`}>{t.t(label)}</label>
      <input id={`f-ch-${key}`} type={type} value={f[key]} autoComplete={type === 'password' ? 'new-password' : 'off'}
        placeholder={type === 'password' && secretSet ? t.t('channel.keepSecret') : undefined}
        onInput={(e) => set({ [key]: e.currentTarget.value } as Partial<ChannelForm>)} />
      {type === 'password' && <span class="muted small">{secretSet ? t.t('channel.secretSetHelp') : t.t('channel.writeOnly')}</span>}
    </div>
  );
  return (
    <form class="card" onSubmit={save}>
      <h3>{channel ? t.t('channel.edit') : t.t('channel.add')}</h3>
      {input('displayName', 'channel.name')}
      {!channel && (
        <div class="field">
          <label for="f-ch-kind">{t.t('channel.type')}</label>
          <select id="f-ch-kind" value={f.kind} onChange={(e) => set({ kind: e.currentTarget.value as Kind })}>
            <option value="email">{enumLabel(t, 'channelType', 'EMAIL')}</option>
            <option value="line">{enumLabel(t, 'channelType', 'LINE')}</option>
            <option value="webhook">{enumLabel(t, 'channelType', 'WEBHOOK')}</option>
          </select>
        </div>
      )}
      {f.kind === 'email' && (
        <>
          {input('host', 'channel.host')}
          {input('port', 'channel.port', 'number')}
          <div class="field">
            <label for="f-ch-security">{t.t('channel.security')}</label>
            <select id="f-ch-security" value={f.security} onChange={(e) => set({ security: e.currentTarget.value })}>
              {['STARTTLS', 'TLS', 'NONE'].map((s) => <option key={s} value={s}>{enumLabel(t, 'security', s)}</option>)}
            </select>
          </div>
          {input('username', 'channel.username')}
          {input('password', 'channel.password', 'password', channel?.email?.passwordSet)}
          {input('fromAddress', 'channel.fromAddress', 'email')}
          {input('fromName', 'channel.fromName')}
          {input('replyTo', 'channel.replyTo', 'email')}
        </>
      )}
      {f.kind === 'line' && (
        <>
          {input('channelAccessToken', 'channel.accessToken', 'password', channel?.line?.channelAccessTokenSet)}
          {input('channelSecret', 'channel.channelSecret', 'password', channel?.line?.channelSecretSet)}
          {input('apiBaseUrl', 'channel.apiBaseUrl', 'url')}
        </>
      )}
      {f.kind === 'webhook' && (
        <>
          {input('url', 'channel.url', 'url')}
          {input('signingSecret', 'channel.signingSecret', 'password', channel?.webhook?.signingSecretSet)}
        </>
      )}
      <ErrorBox error={error} />
      <div class="actions">
        <button type="submit">{t.t('common.save')}</button>
        <button type="button" class="secondary" onClick={onCancel}>{t.t('common.cancel')}</button>
      </div>
    </form>
  );
}
