import type { JSX } from 'preact';
import { useState } from 'preact/hooks';
import type { definitions } from '../api/schema';
import type { Segment } from '../api/types';
import { useApp } from '../app';
import { CustomerLink } from '../components/merges';
import { ExperimentResults } from '../components/results';
import { Empty, ErrorBox, FieldError, Loading, Section, enumLabel, useAsync, usePaged } from '../components/ui';
import { useI18n, type MessageKey } from '../i18n/i18n';
import { href, navigate } from '../router';

type Campaign = definitions['v1Campaign'];
type Delivery = definitions['v1Delivery'];

/** Broadcasts lists the campaigns (one message to a segment), a page at a time. */
export function Broadcasts() {
  const t = useI18n();
  const { api } = useApp();
  const r = usePaged(
    (pageToken) => api.get<{ campaigns?: Campaign[]; nextPageToken?: string }>('/v1/campaigns', { pageSize: 50, pageToken }),
    [],
  );
  const list = r.data?.campaigns ?? [];
  return (
    <>
      <h1>{t.t('broadcasts.title')}</h1>
      <p class="muted">{t.t('broadcasts.help')}</p>
      <div class="toolbar"><a class="button" href={href({ view: 'broadcastNew' })}>{t.t('broadcasts.new')}</a></div>
      <ErrorBox error={r.error} />
      {r.loading && !r.data ? <Loading /> : list.length === 0 ? <Empty>{t.t('broadcasts.none')}</Empty> : (
        <table>
          <thead><tr>
            <th scope="col">{t.t('journey.name')}</th><th scope="col">{t.t('journey.state')}</th>
            <th scope="col">{t.t('broadcast.sent')}</th><th scope="col">{t.t('broadcast.failed')}</th>
            <th scope="col">{t.t('broadcast.launched')}</th>
          </tr></thead>
          <tbody>
            {list.map((c) => (
              <tr key={c.campaignId} data-campaign={c.campaignId}>
                <td><a href={href({ view: 'broadcast', campaignId: c.campaignId ?? '' })}>{c.displayName}</a></td>
                <td><span class={`badge ${c.state}`}>{enumLabel(t, 'campaignState', c.state)}</span></td>
                <td class="num">{t.number(c.deliveryCounts?.sent ?? 0, 0)}</td>
                <td class="num">{t.number(c.deliveryCounts?.failed ?? 0, 0)}</td>
                <td>{c.launchTime ? t.dateTime(c.launchTime) : '—'}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {r.pager}
    </>
  );
}

export interface BroadcastForm {
  displayName: string;
  segmentId: string;
  url: string;
  message: string;
  holdout: string;
}

/** broadcastErrors checks the form as the server would, naming each field. */
export function broadcastErrors(f: BroadcastForm): Partial<Record<keyof BroadcastForm, 'required' | 'url' | 'holdout'>> {
  const out: Partial<Record<keyof BroadcastForm, 'required' | 'url' | 'holdout'>> = {};
  if (!f.displayName.trim()) out.displayName = 'required';
  if (!f.segmentId) out.segmentId = 'required';
  if (!f.message.trim()) out.message = 'required';
  if (!f.url.trim()) out.url = 'required';
  else if (!/^https?:\/\/\S+$/i.test(f.url.trim())) out.url = 'url';
  if (f.holdout.trim()) {
    const h = Number(f.holdout);
    if (!Number.isFinite(h) || h <= 0 || h > 90) out.holdout = 'holdout';
  }
  return out;
}

/** broadcastBody is the POST /v1/campaigns body of a form. */
export function broadcastBody(f: BroadcastForm): Campaign {
  return {
    displayName: f.displayName.trim(),
    segmentId: f.segmentId,
    webhook: { url: f.url.trim() },
    messageTemplate: f.message,
    ...(f.holdout.trim() && { holdout: { percent: Number(f.holdout) } }),
  };
}

const errKey = { required: 'builder.err.required', url: 'broadcast.err.url', holdout: 'broadcast.err.holdout' } as const;

/** BroadcastEditor creates a draft broadcast; it is launched from its page. */
export function BroadcastEditor() {
  const t = useI18n();
  const { api } = useApp();
  const segments = useAsync(() => api.get<{ segments?: Segment[] }>('/v1/segments', { pageSize: 1000 }), []);
  const [f, setF] = useState<BroadcastForm>({ displayName: '', segmentId: '', url: '', message: '', holdout: '' });
  const [shown, setShown] = useState(false);
  const [error, setError] = useState<unknown>();
  const errs = shown ? broadcastErrors(f) : {};
  const submit = async (e: Event) => {
    e.preventDefault();
    setShown(true);
    if (Object.keys(broadcastErrors(f)).length) return;
    setError(undefined);
    try {
      const r = await api.post<{ campaign: Campaign }>('/v1/campaigns', broadcastBody(f));
      navigate({ view: 'broadcast', campaignId: r.campaign.campaignId ?? '' });
    } catch (err) {
      setError(err);
    }
  };
  const field = (k: keyof BroadcastForm, label: MessageKey, input: (p: Record<string, unknown>) => JSX.Element, help?: MessageKey) => (
    <div class="field">
      <label for={`f-bc-${k}`}>{t.t(label)}</label>
      {input({ id: `f-bc-${k}`, 'aria-invalid': errs[k] ? 'true' : undefined, 'aria-describedby': `err-bc-${k}${help ? ` help-bc-${k}` : ''}` })}
      {help && <span class="muted small" id={`help-bc-${k}`}>{t.t(help)}</span>}
      <FieldError id={`err-bc-${k}`} message={errs[k] ? t.t(errKey[errs[k]!]) : undefined} />
    </div>
  );
  return (
    <>
      <p><a href={href({ view: 'broadcasts' })}>{t.t('broadcasts.back')}</a></p>
      <h1>{t.t('broadcasts.new')}</h1>
      <form class="card" onSubmit={submit} noValidate>
        {field('displayName', 'journey.name', (p) => <input {...p} value={f.displayName} onInput={(e) => setF({ ...f, displayName: e.currentTarget.value })} />)}
        {field('segmentId', 'broadcast.segment', (p) => (
          <select {...p} value={f.segmentId} onChange={(e) => setF({ ...f, segmentId: e.currentTarget.value })}>
            <option value="">{t.t('broadcast.chooseSegment')}</option>
            {(segments.data?.segments ?? []).map((s) => <option key={s.segmentId} value={s.segmentId}>{s.displayName}</option>)}
          </select>
        ))}
        {field('url', 'broadcast.url', (p) => <input {...p} type="url" value={f.url} onInput={(e) => setF({ ...f, url: e.currentTarget.value })} />, 'broadcast.urlHelp')}
        {field('message', 'broadcast.message', (p) => <textarea {...p} rows={3} value={f.message} onInput={(e) => setF({ ...f, message: e.currentTarget.value })} />, 'broadcast.messageHelp')}
        {field('holdout', 'broadcast.holdout', (p) => <input {...p} inputMode="decimal" value={f.holdout} onInput={(e) => setF({ ...f, holdout: e.currentTarget.value })} />, 'broadcast.holdoutHelp')}
        <ErrorBox error={error} />
        <button type="submit">{t.t('broadcast.create')}</button>
      </form>
    </>
  );
}

/** BroadcastDetail shows a broadcast: counts, launch, results against its holdout, deliveries. */
export function BroadcastDetail({ campaignId }: { campaignId: string }) {
  const t = useI18n();
  const { api } = useApp();
  const [version, setVersion] = useState(0);
  const [error, setError] = useState<unknown>();
  const id = encodeURIComponent(campaignId);
  const r = useAsync(() => api.get<{ campaign: Campaign }>(`/v1/campaigns/${id}`), [campaignId, version]);
  const deliveries = usePaged(
    (pageToken) => api.get<{ deliveries?: Delivery[]; nextPageToken?: string }>(`/v1/campaigns/${id}/deliveries`, { pageSize: 50, pageToken }),
    [campaignId, version],
  );
  const c = r.data?.campaign;
  const seg = useAsync(
    () => (c?.segmentId ? api.get<{ segment: Segment }>(`/v1/segments/${encodeURIComponent(c.segmentId)}`) : Promise.resolve(undefined)),
    [c?.segmentId],
  );
  if (r.loading && !c) return <Loading />;
  if (r.error) return <ErrorBox error={r.error} />;
  if (!c) return null;
  const launch = async () => {
    setError(undefined);
    try {
      await api.post(`/v1/campaigns/${id}:launch`);
      setVersion((v) => v + 1);
    } catch (err) {
      setError(err);
    }
  };
  const n = c.deliveryCounts ?? {};
  return (
    <>
      <p><a href={href({ view: 'broadcasts' })}>{t.t('broadcasts.back')}</a></p>
      <h1>{c.displayName} <span class={`badge ${c.state}`} data-state={c.state}>{enumLabel(t, 'campaignState', c.state)}</span></h1>
      <div class="toolbar">
        {c.state === 'CAMPAIGN_STATE_DRAFT' && <button type="button" onClick={launch}>{t.t('broadcast.launch')}</button>}
        <button type="button" class="secondary" onClick={() => setVersion((v) => v + 1)}>{t.t('common.refresh')}</button>
        {c.journeyId && <a href={href({ view: 'journey', journeyId: c.journeyId })}>{t.t('broadcast.journey')}</a>}
      </div>
      <ErrorBox error={error} />
      <div class="grid">
        <Section title={t.t('broadcast.details')} id="sec-bc-details">
          <dl class="pairs">
            <dt>{t.t('broadcast.segment')}</dt><dd><a href={href({ view: 'segments', segmentId: c.segmentId ?? '' })}>{seg.data?.segment.displayName ?? c.segmentId}</a></dd>
            <dt>{t.t('broadcast.url')}</dt><dd><code>{c.webhook?.url ?? '—'}</code></dd>
            <dt>{t.t('broadcast.holdout')}</dt><dd>{c.holdout?.percent ? `${t.number(c.holdout.percent, 1)} %` : '—'}</dd>
            <dt>{t.t('broadcast.launched')}</dt><dd>{c.launchTime ? t.dateTime(c.launchTime) : '—'}</dd>
            <dt>{t.t('broadcast.message')}</dt><dd><pre class="summary">{c.messageTemplate}</pre></dd>
          </dl>
        </Section>
        <Section title={t.t('broadcast.counts')} id="sec-bc-counts">
          <dl class="stats">
            <div><dt>{t.t('broadcast.total')}</dt><dd data-count="total">{t.number(n.total ?? 0, 0)}</dd></div>
            <div><dt>{t.t('broadcast.pending')}</dt><dd data-count="pending">{t.number(n.pending ?? 0, 0)}</dd></div>
            <div><dt>{t.t('broadcast.sent')}</dt><dd data-count="sent">{t.number(n.sent ?? 0, 0)}</dd></div>
            <div><dt>{t.t('broadcast.failed')}</dt><dd data-count="failed">{t.number(n.failed ?? 0, 0)}</dd></div>
          </dl>
          {c.holdout?.percent ? <p class="muted small">{t.t('broadcast.failedHelp')}</p> : null}
        </Section>
      </div>
      <Section title={t.t('results.title')} id="sec-results" wide>
        {c.journeyId
          ? <ExperimentResults path={`/v1/campaigns/${id}/results`} version={version} />
          : <Empty>{t.t('broadcast.notLaunched')}</Empty>}
      </Section>
      <Section title={t.t('broadcast.deliveries')} id="sec-bc-deliveries">
        <ErrorBox error={deliveries.error} />
        {(deliveries.data?.deliveries ?? []).length === 0 ? <Empty>{t.t('customer.noSends')}</Empty> : (
          <table>
            <thead><tr>
              <th scope="col">{t.t('customer.id')}</th><th scope="col">{t.t('send.status')}</th>
              <th scope="col">{t.t('broadcast.attempts')}</th><th scope="col">{t.t('broadcast.lastError')}</th><th scope="col">{t.t('broadcast.sendTime')}</th>
            </tr></thead>
            <tbody>
              {(deliveries.data?.deliveries ?? []).map((d) => (
                <tr key={d.deliveryId}>
                  <td><CustomerLink id={d.customerId} /></td>
                  <td>{d.lastError === 'HOLDOUT' ? t.t('broadcast.heldOut') : enumLabel(t, 'deliveryStatus', d.status)}</td>
                  <td class="num">{t.number(d.attempts ?? 0, 0)}</td>
                  <td>{d.lastError === 'HOLDOUT' ? '—' : d.lastError || '—'}</td>
                  <td>{d.sendTime ? t.dateTime(d.sendTime) : '—'}</td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
        {deliveries.pager}
      </Section>
    </>
  );
}
