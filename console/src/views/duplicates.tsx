import { useEffect, useState } from 'preact/hooks';
import type { Customer, DuplicateScan, Merge, MergeSuggestion } from '../api/types';
import { useApp } from '../app';
import { Empty, ErrorBox, Loading, Section, enumLabel, useAsync, usePaged } from '../components/ui';
import { useI18n, type I18n } from '../i18n/i18n';
import { CustomerLink, MergeTable } from '../components/merges';

const pageSize = 20;

/** Duplicates runs a scan, reviews its suggestions side by side and lists merges to undo. */
export function Duplicates() {
  const t = useI18n();
  const [version, setVersion] = useState(0);
  const bump = () => setVersion((v) => v + 1);
  return (
    <>
      <h1>{t.t('dup.title')}</h1>
      <p class="muted">{t.t('dup.intro')}</p>
      <Scan onDone={bump} />
      <Suggestions version={version} onChange={bump} />
      <RecentMerges version={version} onChange={bump} />
    </>
  );
}

function Scan({ onDone }: { onDone(): void }) {
  const t = useI18n();
  const { api } = useApp();
  const [scan, setScan] = useState<DuplicateScan>();
  const [error, setError] = useState<unknown>();
  const running = scan?.state === 'DUPLICATE_SCAN_STATE_RUNNING';
  useEffect(() => {
    if (!running || !scan?.scanId) return;
    const timer = setTimeout(async () => {
      try {
        const r = await api.get<{ scan: DuplicateScan }>(`/v1/duplicateScans/${encodeURIComponent(scan.scanId ?? '')}`);
        setScan(r.scan);
        if (r.scan.state !== 'DUPLICATE_SCAN_STATE_RUNNING') onDone();
      } catch (err) {
        setError(err);
      }
    }, 500);
    return () => clearTimeout(timer);
  }, [scan]);
  const start = async () => {
    setError(undefined);
    try {
      const r = await api.post<{ scan: DuplicateScan }>('/v1/customers:findDuplicates', { autoMerge: false });
      setScan(r.scan);
      if (r.scan.state !== 'DUPLICATE_SCAN_STATE_RUNNING') onDone();
    } catch (err) {
      setError(err);
    }
  };
  return (
    <Section title={t.t('dup.scan')} id="sec-scan">
      <button type="button" onClick={start} disabled={running}>{t.t('dup.start')}</button>
      <ErrorBox error={error} />
      {scan && (
        <div class="scan" data-scan-state={scan.state}>
          <label for="scan-progress">{t.t('dup.progress', { phase: t.tk(`scanPhase.${scan.phase}`, scan.phase ?? '') })}</label>
          <progress id="scan-progress" max={100} value={scan.progressPercent ?? 0}>{scan.progressPercent ?? 0}%</progress>
          <p aria-live="polite">
            {enumLabel(t, 'scanState', scan.state)} ·{' '}
            {t.t('dup.counts', {
              scanned: t.number(scan.customersScanned, 0), total: t.number(scan.customersTotal, 0),
              pairs: t.number(scan.pairsCompared, 0), created: t.number(scan.suggestionsCreated, 0),
            })}
          </p>
          {scan.error && <p class="error" role="alert">{scan.error}</p>}
        </div>
      )}
    </Section>
  );
}

function Suggestions({ version, onChange }: { version: number; onChange(): void }) {
  const t = useI18n();
  const { api } = useApp();
  const [error, setError] = useState<unknown>();
  const [status, setStatus] = useState('');
  const page = usePaged(async (pageToken) => {
    const r = await api.get<{ suggestions?: MergeSuggestion[]; nextPageToken?: string }>('/v1/mergeSuggestions', { pageSize, pageToken });
    const ids = [...new Set((r.suggestions ?? []).flatMap((s) => [s.customerIdA ?? '', s.customerIdB ?? '']))].filter(Boolean);
    const customers = ids.length
      ? (await api.get<{ customers?: Customer[] }>('/v1/customers:batchGet', { customerIds: ids })).customers ?? []
      : [];
    return { ...r, byId: new Map(customers.map((c) => [c.customerId, c])) };
  }, [version]);

  const decide = async (s: MergeSuggestion, how: 'accept' | 'reject') => {
    setError(undefined);
    try {
      await api.post(`/v1/mergeSuggestions/${encodeURIComponent(s.suggestionId ?? '')}:${how}`);
      setStatus(t.t(how === 'accept' ? 'dup.accepted' : 'dup.rejected'));
      onChange();
    } catch (err) {
      setError(err);
    }
  };
  const list = page.data?.suggestions ?? [];
  return (
    <Section title={t.t('dup.suggestions')} id="sec-suggestions">
      <ErrorBox error={page.error ?? error} />
      <p class="sr-only" aria-live="polite">{status}</p>
      {page.loading && !page.data ? <Loading /> : list.length === 0 ? <Empty>{t.t('dup.none')}</Empty> : (
        list.map((s) => (
          <article class="suggestion" key={s.suggestionId} data-suggestion={s.suggestionId} aria-label={t.t('dup.pair', { score: t.percent(s.score) })}>
            <header>
              <strong>{t.t('dup.score', { score: t.percent(s.score) })}</strong>
              <ul class="reasons">{(s.reasons ?? []).map((r) => <li key={r}>{reasonText(t, r)}</li>)}</ul>
            </header>
            <div class="side-by-side">
              <CustomerCard c={page.data?.byId.get(s.customerIdA)} id={s.customerIdA} />
              <CustomerCard c={page.data?.byId.get(s.customerIdB)} id={s.customerIdB} />
            </div>
            <div class="actions">
              <button type="button" onClick={() => decide(s, 'accept')}>{t.t('dup.accept')}</button>
              <button type="button" class="secondary" onClick={() => decide(s, 'reject')}>{t.t('dup.reject')}</button>
            </div>
          </article>
        ))
      )}
      {page.pager}
    </Section>
  );
}

/** reasonText translates the matcher's "field:verdict(detail)" reasons, e.g. "name:similar(0.93)". */
export function reasonText(t: I18n, reason: string): string {
  const m = /^([\w]+)\s*:\s*([\w]+)(?:\(([^)]*)\))?$/.exec(reason.trim());
  if (!m) return reason;
  const [, field, verdict, detail = ''] = m;
  return `${t.tk(`identity.${field}`, field)}: ${t.tk(`verdict.${verdict}`, verdict, { detail })}`;
}

function CustomerCard({ c, id }: { c?: Customer; id?: string }) {
  const t = useI18n();
  if (!c) return <div class="card"><CustomerLink id={id} /> <span class="muted">{t.t('dup.gone')}</span></div>;
  return (
    <div class="card">
      <CustomerLink id={c.customerId} />
      <dl class="pairs small">
        {(c.identityTraits ?? []).map((it) => (
          <>
            <dt key={`${it.trait}-k`}>{t.tk(`identity.${it.trait}`, it.trait ?? '')}</dt>
            <dd key={`${it.trait}-v`}>{it.original}</dd>
          </>
        ))}
        <dt>{t.t('customer.events')}</dt><dd>{t.number(c.eventCount, 0)}</dd>
        <dt>{t.t('customer.firstSeen')}</dt><dd>{t.date(c.firstSeenTime)}</dd>
      </dl>
    </div>
  );
}

function RecentMerges({ version, onChange }: { version: number; onChange(): void }) {
  const t = useI18n();
  const { api } = useApp();
  const r = useAsync(() => api.get<{ merges?: Merge[] }>('/v1/merges', { pageSize: 20 }), [version]);
  return (
    <Section title={t.t('dup.merges')} id="sec-merges">
      <ErrorBox error={r.error} />
      <MergeTable merges={r.data?.merges ?? []} onUndone={onChange} />
    </Section>
  );
}
