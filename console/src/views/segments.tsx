import type { Customer, Segment } from '../api/types';
import { useApp } from '../app';
import { BarChart } from '../components/barchart';
import { CustomerLink } from '../components/merges';
import { Empty, ErrorBox, Loading, traitText, useAsync, usePaged } from '../components/ui';
import { useI18n } from '../i18n/i18n';
import { href } from '../router';

/**
 * Segments lists the workspace's segments with their sizes; a new one is
 * written in the builder (#/segments/new).
 */
export function Segments() {
  const t = useI18n();
  const { api } = useApp();
  const r = usePaged(
    (pageToken) => api.get<{ segments?: Segment[]; nextPageToken?: string }>('/v1/segments', { pageSize: 50, pageToken }),
    [],
  );
  const list = r.data?.segments ?? [];
  return (
    <>
      <h1>{t.t('segments.title')}</h1>
      <p class="toolbar">
        <a class="button" href={href({ view: 'segmentNew' })}>{t.t('segments.new')}</a>
        <a href={href({ view: 'rfm' })}>{t.t('rfm.link')}</a>
      </p>
      <ErrorBox error={r.error} />
      {r.loading && !r.data ? <Loading /> : list.length === 0 ? <Empty>{t.t('segments.none')}</Empty> : (
        <table>
          <thead><tr>
            <th scope="col">{t.t('segments.name')}</th><th scope="col">{t.t('segments.size')}</th>
            <th scope="col">{t.t('segments.description')}</th><th scope="col">{t.t('segments.created')}</th>
          </tr></thead>
          <tbody>
            {list.map((s) => (
              <tr key={s.segmentId} data-segment={s.segmentId}>
                <td><a href={href({ view: 'segments', segmentId: s.segmentId ?? '' })}>{s.displayName}</a></td>
                <td class="num">{t.number(s.size, 0)}</td>
                <td>{s.description || '—'}</td>
                <td>{t.date(s.createTime)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {r.pager}
    </>
  );
}

const membersPage = 50;

/** SegmentMembers pages through a segment's members, with who they are. */
export function SegmentMembers({ segmentId }: { segmentId: string }) {
  const t = useI18n();
  const { api } = useApp();
  const id = encodeURIComponent(segmentId);
  const seg = useAsync(() => api.get<{ segment: Segment }>(`/v1/segments/${id}`), [segmentId]);
  const page = usePaged(async (pageToken) => {
    const r = await api.get<{ members?: Array<{ customerId?: string; joinTime?: string }>; nextPageToken?: string; totalSize?: string }>(
      `/v1/segments/${id}/members`, { pageSize: membersPage, pageToken });
    const ids = (r.members ?? []).map((m) => m.customerId ?? '').filter(Boolean);
    const customers = ids.length ? (await api.get<{ customers?: Customer[] }>('/v1/customers:batchGet', { customerIds: ids })).customers ?? [] : [];
    return { ...r, byId: new Map(customers.map((c) => [c.customerId, c])) };
  }, [segmentId]);
  const s = seg.data?.segment;
  return (
    <>
      <p><a href={href({ view: 'segments' })}>{t.t('segments.back')}</a></p>
      <h1>{s?.displayName ?? segmentId}</h1>
      <ErrorBox error={seg.error ?? page.error} />
      {s && <p>{t.t('segments.members', { n: t.number(s.size, 0) })}{s.description ? ` · ${s.description}` : ''}</p>}
      <SizeTrend segmentId={segmentId} />
      {page.loading && !page.data ? <Loading /> : (page.data?.members ?? []).length === 0 ? <Empty>{t.t('segments.noMembers')}</Empty> : (
        <table class="members">
          <thead><tr>
            <th scope="col">{t.t('customer.id')}</th><th scope="col">{t.t('identity.name')}</th>
            <th scope="col">{t.t('identity.email')}</th><th scope="col">{t.t('segments.joined')}</th>
          </tr></thead>
          <tbody>
            {(page.data?.members ?? []).map((m) => (
              <tr key={m.customerId}>
                <td><CustomerLink id={m.customerId} /></td>
                <td>{traitText(page.data?.byId.get(m.customerId), 'name')}</td>
                <td>{traitText(page.data?.byId.get(m.customerId), 'email')}</td>
                <td>{t.dateTime(m.joinTime)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {page.pager}
    </>
  );
}

/** SizeTrend is the segment's size at the end of each of the last 30 days (/sizes). */
function SizeTrend({ segmentId }: { segmentId: string }) {
  const t = useI18n();
  const { api } = useApp();
  const r = useAsync(
    () => api.get<{ sizes?: Array<{ time?: string; size?: string; joined?: string; left?: string }> }>(
      `/v1/segments/${encodeURIComponent(segmentId)}/sizes`, { granularity: 'DAY' }),
    [segmentId],
  );
  const sizes = r.data?.sizes ?? [];
  return (
    <section class="card" aria-labelledby="sec-size-trend">
      <h2 id="sec-size-trend">{t.t('segments.trend')}</h2>
      <ErrorBox error={r.error} />
      {r.loading && !r.data ? <Loading /> : sizes.length ? (
        <BarChart caption={t.t('segments.trendCaption')} bars={sizes.map((p) => ({
          label: t.dateParts(Date.parse(p.time ?? ''), { month: 'numeric', day: 'numeric' }),
          value: Number(p.size ?? 0),
          text: t.number(p.size, 0),
        }))} />
      ) : <Empty>{t.t('segments.noMembers')}</Empty>}
    </section>
  );
}
