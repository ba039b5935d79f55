import { useEffect, useState } from 'preact/hooks';
import type { ClvPrediction, Consent, Customer, CustomerFeatures, CustomerJourney, Event as KEvent, Merge, Segment, Send } from '../api/types';
import { ApiError } from '../api/client';
import { useApp } from '../app';
import { Empty, ErrorBox, Loading, traitText, Section, enumLabel, useAsync, usePaged } from '../components/ui';
import { useI18n, type MessageKey } from '../i18n/i18n';
import { detectLookup, lookupKinds, lookupQuery, type LookupKind } from '../lookup';
import { CustomerLink, MergeTable } from '../components/merges';
import { href, navigate } from '../router';

/** Customers is the search box and, once a customer is chosen, the 360 view. */
export function Customers({ customerId }: { customerId?: string }) {
  const t = useI18n();
  const { api } = useApp();
  const [q, setQ] = useState('');
  const [kind, setKind] = useState<LookupKind>('auto');
  const [error, setError] = useState<unknown>();
  const [busy, setBusy] = useState(false);
  // A name search lists its matches below the box instead of opening one.
  const [byName, setByName] = useState('');
  // Opening a customer (a result's link) closes the list.
  useEffect(() => setByName(''), [customerId]);

  const search = async (e: Event) => {
    e.preventDefault();
    setError(undefined);
    setByName('');
    setBusy(true);
    const k = kind === 'auto' ? detectLookup(q) : kind;
    try {
      if (k === 'name') {
        setByName(q.trim());
        return;
      }
      const r =
        k === 'customerId'
          ? await api.get<{ customer: Customer }>(`/v1/customers/${encodeURIComponent(q.trim())}`)
          : await api.get<{ customer: Customer }>('/v1/customers:lookup', lookupQuery(k, q));
      navigate({ view: 'customers', customerId: r.customer.customerId });
    } catch (err) {
      // In auto mode an entry no customer holds as a user id may be a name.
      if (kind === 'auto' && k === 'userId' && err instanceof ApiError && err.status === 404) setByName(q.trim());
      else setError(err);
    } finally {
      setBusy(false);
    }
  };

  return (
    <>
      <h1>{t.t('customers.title')}</h1>
      <form class="toolbar" role="search" onSubmit={search}>
        <label for="customer-q">{t.t('customers.search')}</label>
        <input id="customer-q" type="search" value={q} onInput={(e) => setQ(e.currentTarget.value)}
          placeholder={t.t('customers.searchHint')} aria-describedby="customer-q-help" />
        <label for="customer-kind" class="sr-only">{t.t('customers.kind')}</label>
        <select id="customer-kind" value={kind} onChange={(e) => setKind(e.currentTarget.value as LookupKind)}>
          {lookupKinds.map((k) => (
            <option key={k} value={k}>{t.t(`lookup.${k}` as MessageKey)}</option>
          ))}
        </select>
        <button type="submit" disabled={busy || !q.trim()}>{t.t('customers.find')}</button>
      </form>
      <p id="customer-q-help" class="muted small">{t.t('customers.searchHelp')}</p>
      <ErrorBox error={error} />
      {byName && <NameResults name={byName} />}
      {customerId && !byName && <Customer360 key={customerId} customerId={customerId} />}
    </>
  );
}

/** NameResults pages through /v1/customers:search for a name. */
function NameResults({ name }: { name: string }) {
  const t = useI18n();
  const { api } = useApp();
  const r = usePaged(
    (pageToken) => api.get<{ customers?: Customer[]; nextPageToken?: string }>('/v1/customers:search', { name, pageSize: 20, pageToken }),
    [name],
  );
  const list = r.data?.customers ?? [];
  return (
    <section class="card" aria-labelledby="sec-name-results">
      <h2 id="sec-name-results">{t.t('customers.nameResults', { name })}</h2>
      <ErrorBox error={r.error} />
      {r.loading && !r.data ? <Loading /> : list.length === 0 ? <Empty>{t.t('customers.noNameMatch')}</Empty> : (
        <table class="name-results">
          <thead><tr>
            <th scope="col">{t.t('identity.name')}</th><th scope="col">{t.t('identity.email')}</th>
            <th scope="col">{t.t('customer.id')}</th><th scope="col">{t.t('customer.lastSeen')}</th>
          </tr></thead>
          <tbody>
            {list.map((c) => (
              <tr key={c.customerId} data-result={c.customerId}>
                <td><a href={href({ view: 'customers', customerId: c.customerId ?? '' })}>{traitText(c, 'name') !== '—' ? traitText(c, 'name') : c.customerId}</a></td>
                <td>{traitText(c, 'email')}</td>
                <td><code>{c.customerId}</code></td>
                <td>{t.dateTime(c.lastSeenTime)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {r.pager}
    </section>
  );
}

function Customer360({ customerId }: { customerId: string }) {
  const t = useI18n();
  const { api } = useApp();
  const [version, setVersion] = useState(0);
  const id = encodeURIComponent(customerId);
  const profile = useAsync(() => api.get<{ customer: Customer }>(`/v1/customers/${id}`), [customerId, version]);
  const c = profile.data?.customer;
  if (profile.loading && !c) return <Loading />;
  if (profile.error) return <ErrorBox error={profile.error} />;
  if (!c) return null;
  const traits = Object.entries(c.traits ?? {});
  const refresh = () => setVersion((v) => v + 1);
  return (
    <div class="grid" data-customer={c.customerId}>
      <Section title={t.t('customer.profile')} id="sec-profile">
        <dl class="pairs">
          <dt>{t.t('customer.id')}</dt><dd><code>{c.customerId}</code></dd>
          <dt>{t.t('customer.firstSeen')}</dt><dd>{t.dateTime(c.firstSeenTime)}</dd>
          <dt>{t.t('customer.lastSeen')}</dt><dd>{t.dateTime(c.lastSeenTime)}</dd>
          <dt>{t.t('customer.events')}</dt><dd>{t.number(c.eventCount, 0)}</dd>
        </dl>
        <h3>{t.t('customer.traits')}</h3>
        {traits.length === 0 ? <Empty>{t.t('common.none')}</Empty> : (
          <table>
            <thead><tr><th scope="col">{t.t('customer.trait')}</th><th scope="col">{t.t('customer.value')}</th></tr></thead>
            <tbody>
              {traits.map(([k, v]) => (
                <tr key={k}><td>{k}</td><td>{typeof v === 'object' ? JSON.stringify(v) : String(v)}</td></tr>
              ))}
            </tbody>
          </table>
        )}
      </Section>
      <Section title={t.t('customer.identities')} id="sec-identities">
        <table>
          <thead><tr><th scope="col">{t.t('customer.kind')}</th><th scope="col">{t.t('customer.value')}</th></tr></thead>
          <tbody>
            {(c.identities ?? []).map((i) => (
              <tr key={`${i.kind}:${i.value}`}><td>{enumLabel(t, 'identity', i.kind)}</td><td>{i.value}</td></tr>
            ))}
          </tbody>
        </table>
        {(c.identityTraits ?? []).length > 0 && (
          <>
            <h3>{t.t('customer.identityTraits')}</h3>
            <table>
              <thead><tr>
                <th scope="col">{t.t('customer.trait')}</th><th scope="col">{t.t('customer.original')}</th>
                <th scope="col">{t.t('customer.normalized')}</th><th scope="col">{t.t('customer.issues')}</th>
              </tr></thead>
              <tbody>
                {(c.identityTraits ?? []).map((it) => (
                  <tr key={it.trait}>
                    <td>{enumLabel(t, 'identity', it.trait)}</td><td>{it.original}</td><td>{it.normalized || '—'}</td>
                    <td>{(it.issues ?? []).map((x) => enumLabel(t, 'issue', x)).join(', ') || '—'}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </>
        )}
      </Section>
      <Features customerId={customerId} version={version} />
      <Merges customerId={customerId} version={version} onChange={refresh} />
      <Segments customerId={customerId} version={version} />
      <Consents customerId={customerId} version={version} />
      <Journeys customerId={customerId} version={version} />
      <Sends customerId={customerId} version={version} />
      <Timeline customerId={customerId} version={version} />
    </div>
  );
}

function Merges({ customerId, version, onChange }: { customerId: string; version: number; onChange(): void }) {
  const t = useI18n();
  const { api } = useApp();
  const merges = useAsync(() => api.get<{ merges?: Merge[] }>('/v1/merges', { customerId, pageSize: 100 }), [customerId, version]);
  return (
    <Section title={t.t('customer.merges')} id="sec-merges" wide>
      <ErrorBox error={merges.error} />
      <MergeTable merges={merges.data?.merges ?? []} onUndone={onChange} />
    </Section>
  );
}

/** Features are the purchase figures and RFM scores segments are built on. */
function Features({ customerId, version }: { customerId: string; version: number }) {
  const t = useI18n();
  const { api } = useApp();
  const r = useAsync(() => api.get<{ features: CustomerFeatures }>(`/v1/customers/${encodeURIComponent(customerId)}/features`), [customerId, version]);
  const f = r.data?.features;
  return (
    <Section title={t.t('customer.features')} id="sec-features">
      <ErrorBox error={r.error} />
      {f && (
        <dl class="pairs">
          <dt>{t.t('features.orders')}</dt><dd>{t.number(f.orderCount, 0)}</dd>
          <dt>{t.t('features.revenue')}</dt><dd>{t.yen(f.revenue)}</dd>
          <dt>{t.t('features.lastOrder')}</dt><dd>{t.date(f.lastOrderTime)}</dd>
          <dt>{t.t('features.rfm')}</dt>
          <dd>{f.recencyScore ? t.t('features.scores', { r: f.recencyScore, f: f.frequencyScore ?? 0, m: f.monetaryScore ?? 0 }) : '—'}</dd>
        </dl>
      )}
      <Prediction customerId={customerId} />
    </Section>
  );
}

/**
 * Prediction asks /v1/clv:predict on demand: it fits the models over the
 * whole workspace, too heavy to run on every page view.
 */
function Prediction({ customerId }: { customerId: string }) {
  const t = useI18n();
  const { api } = useApp();
  const [state, setState] = useState<{ busy?: boolean; p?: ClvPrediction; spendError?: string; none?: boolean; error?: unknown }>({});
  const predict = async () => {
    setState({ busy: true });
    try {
      const r = await api.post<{ predictions?: ClvPrediction[]; gammaGammaError?: string }>('/v1/clv:predict', { customerIds: [customerId] });
      const p = r.predictions?.[0];
      setState(p ? { p, spendError: r.gammaGammaError } : { none: true });
    } catch (error) {
      setState({ error });
    }
  };
  const p = state.p;
  return (
    <>
      <h3>{t.t('clv.title')}</h3>
      {p ? (
        <dl class="pairs" data-clv>
          <dt>{t.t('clv.value')}</dt><dd>{state.spendError ? '—' : t.yen(p.clv)}</dd>
          <dt>{t.t('clv.alive')}</dt><dd>{t.percent(p.probabilityAlive)}</dd>
          <dt>{t.t('clv.purchases')}</dt><dd>{t.number(p.expectedPurchases, 2)}</dd>
        </dl>
      ) : (
        <button type="button" class="secondary" disabled={state.busy} onClick={predict}>{t.t('clv.predict')}</button>
      )}
      {state.none && <p class="muted small">{t.t('clv.none')}</p>}
      {state.spendError && <p class="muted small">{t.t('clv.noSpendModel')} ({state.spendError})</p>}
      <ErrorBox error={state.error} />
    </>
  );
}

function Segments({ customerId, version }: { customerId: string; version: number }) {
  const t = useI18n();
  const { api } = useApp();
  const r = useAsync(() => api.get<{ segments?: Segment[] }>(`/v1/customers/${encodeURIComponent(customerId)}/segments`), [customerId, version]);
  const list = r.data?.segments ?? [];
  return (
    <Section title={t.t('customer.segments')} id="sec-segments">
      <ErrorBox error={r.error} />
      {list.length === 0 ? <Empty>{t.t('customer.noSegments')}</Empty> : (
        <ul class="chips">{list.map((s) => <li key={s.segmentId}>{s.displayName}</li>)}</ul>
      )}
    </Section>
  );
}

function Consents({ customerId, version }: { customerId: string; version: number }) {
  const t = useI18n();
  const { api } = useApp();
  const r = useAsync(() => api.get<{ consents?: Consent[] }>(`/v1/customers/${encodeURIComponent(customerId)}/consents`), [customerId, version]);
  const list = r.data?.consents ?? [];
  return (
    <Section title={t.t('customer.consent')} id="sec-consent">
      <ErrorBox error={r.error} />
      {list.length === 0 ? <Empty>{t.t('consent.allSubscribed')}</Empty> : (
        <table>
          <thead><tr>
            <th scope="col">{t.t('consent.channel')}</th><th scope="col">{t.t('consent.state')}</th>
            <th scope="col">{t.t('consent.source')}</th><th scope="col">{t.t('consent.time')}</th>
          </tr></thead>
          <tbody>
            {list.map((c) => (
              <tr key={c.channelType}>
                <td>{enumLabel(t, 'channelType', c.channelType)}</td>
                <td>{c.subscribed ? t.t('consent.subscribed') : t.t('consent.optedOut')}</td>
                <td>{enumLabel(t, 'consentSource', c.source)}</td>
                <td>{t.dateTime(c.updateTime)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </Section>
  );
}

function Journeys({ customerId, version }: { customerId: string; version: number }) {
  const t = useI18n();
  const { api } = useApp();
  const r = useAsync(() => api.get<{ journeys?: CustomerJourney[] }>(`/v1/customers/${encodeURIComponent(customerId)}/journeys`), [customerId, version]);
  const list = r.data?.journeys ?? [];
  return (
    <Section title={t.t('customer.journeys')} id="sec-journeys">
      <ErrorBox error={r.error} />
      {list.length === 0 ? <Empty>{t.t('customer.noJourneys')}</Empty> : (
        <table>
          <thead><tr>
            <th scope="col">{t.t('journey.name')}</th><th scope="col">{t.t('journey.entryNumber')}</th>
            <th scope="col">{t.t('journey.state')}</th><th scope="col">{t.t('journey.currentStep')}</th>
            <th scope="col">{t.t('journey.entered')}</th>
          </tr></thead>
          <tbody>
            {list.map((j) => (
              <tr key={`${j.journeyId}:${j.entryNumber}`}>
                <td><a href={href({ view: 'journey', journeyId: j.journeyId ?? '' })}>{j.journeyDisplayName}</a></td>
                <td>{j.entryNumber}</td>
                <td>{enumLabel(t, 'entryState', j.state)}{j.exitReason && j.exitReason !== 'EXIT_REASON_UNSPECIFIED' ? ` (${enumLabel(t, 'exitReason', j.exitReason)})` : ''}</td>
                <td>{j.currentStep}</td>
                <td>{t.dateTime(j.enterTime)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </Section>
  );
}

export function SendsTable({ sends, showCustomer }: { sends: Send[]; showCustomer?: boolean }) {
  const t = useI18n();
  return (
    <table>
      <thead><tr>
        <th scope="col">{t.t('send.time')}</th>
        {showCustomer && <th scope="col">{t.t('send.customer')}</th>}
        <th scope="col">{t.t('send.step')}</th><th scope="col">{t.t('send.channel')}</th>
        <th scope="col">{t.t('send.status')}</th><th scope="col">{t.t('send.subject')}</th>
      </tr></thead>
      <tbody>
        {sends.map((s) => (
          <tr key={s.sendId}>
            <td>{t.dateTime(s.sendTime || s.plannedTime || s.createTime)}</td>
            {showCustomer && <td><CustomerLink id={s.customerId} /></td>}
            <td>{s.stepId}</td>
            <td>{enumLabel(t, 'channelType', s.channelType)}</td>
            <td>
              {enumLabel(t, 'sendStatus', s.status)}
              {s.reason && s.reason !== 'SKIP_REASON_UNSPECIFIED' ? ` (${enumLabel(t, 'skipReason', s.reason)})` : ''}
              {s.error ? <span class="muted small"> {s.error}</span> : null}
            </td>
            <td>{s.subject || '—'}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

function Sends({ customerId, version }: { customerId: string; version: number }) {
  const t = useI18n();
  const { api } = useApp();
  const r = usePaged(
    (pageToken) => api.get<{ sends?: Send[]; nextPageToken?: string }>(`/v1/customers/${encodeURIComponent(customerId)}/sends`, { pageSize: 50, pageToken }),
    [customerId, version],
  );
  const list = r.data?.sends ?? [];
  return (
    <Section title={t.t('customer.sends')} id="sec-sends" wide>
      <ErrorBox error={r.error} />
      {list.length === 0 ? <Empty>{t.t('customer.noSends')}</Empty> : <SendsTable sends={list} />}
      {r.pager}
    </Section>
  );
}

/** Timeline pages through events 50 at a time, never all at once. */
function Timeline({ customerId, version }: { customerId: string; version: number }) {
  const t = useI18n();
  const { api } = useApp();
  const [pages, setPages] = useState<{ events: KEvent[]; next: string; error?: unknown }>({ events: [], next: '' });
  const path = `/v1/customers/${encodeURIComponent(customerId)}/events`;
  const first = useAsync(async () => {
    const r = await api.get<{ events?: KEvent[]; nextPageToken?: string }>(path, { pageSize: 50 });
    setPages({ events: r.events ?? [], next: r.nextPageToken ?? '' });
    return r;
  }, [customerId, version]);
  const more = async () => {
    try {
      const r = await api.get<{ events?: KEvent[]; nextPageToken?: string }>(path, { pageSize: 50, pageToken: pages.next });
      setPages((p) => ({ events: [...p.events, ...(r.events ?? [])], next: r.nextPageToken ?? '' }));
    } catch (error) {
      setPages((p) => ({ ...p, error }));
    }
  };
  return (
    <Section title={t.t('customer.timeline')} id="sec-timeline" wide>
      <ErrorBox error={first.error ?? pages.error} />
      {pages.events.length === 0 && !first.loading ? <Empty>{t.t('customer.noEvents')}</Empty> : (
        <ol class="timeline">
          {pages.events.map((e) => (
            <li key={e.eventId}>
              <time dateTime={e.timestamp}>{t.dateTime(e.timestamp)}</time>{' '}
              <strong>{enumLabel(t, 'eventType', e.type)}</strong>{' '}
              {e.name}
              {e.order?.orderId ? <span class="muted"> · {e.order.orderId} · {e.order.currency === 'JPY' || !e.order.currency ? t.yen(e.order.revenue) : `${t.number(e.order.revenue)} ${e.order.currency}`}</span> : null}
            </li>
          ))}
        </ol>
      )}
      {pages.next && <button type="button" class="secondary" onClick={more}>{t.t('common.more')}</button>}
    </Section>
  );
}
