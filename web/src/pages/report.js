// The transparency report page: counts only, nothing that identifies a person.
import { h, api } from '../core.js';

export async function reportPage() {
  const r = await api('GET', '/api/v1/report');
  const table = (obj) => h('table', {}, h('tbody', {}, Object.keys(obj).length
    ? Object.entries(obj).map(([k, v]) => h('tr', {}, h('td', {}, k), h('td', {}, v))) : h('tr', {}, h('td', {}, 'none'))));
  const c = r.counts;
  return h('div', { id: 'report' }, h('h1', {}, 'Transparency report'),
    h('p', { class: 'muted' }, `Period ${r.period.from} to ${r.period.to}. Counts only; nothing here identifies a person.`),
    h('div', { class: 'grid' },
      h('div', { class: 'panel' }, h('h2', {}, 'Outcomes'), table({
        'Candidates raised': c.candidates_raised, 'Confirmed by two people': c.confirmed, Rejected: c.rejected,
        'Expired unreviewed': c.expired_unreviewed, 'Deleted by retention': c.retention_deleted,
        'Legal bases refused': c.bases_refused, 'Failed logins': c.logins_failed }),
        h('h2', {}, 'Active entries by legal basis'), table(c.active_entries_by_basis_kind),
        h('h2', {}, 'Rejection reasons'), table(c.rejection_reasons),
        h('h2', {}, 'Incidents opened, by source'), table(c.incidents_opened_by_source),
        h('h2', {}, 'Incidents closed, by reason'), table(c.incidents_closed_by_reason),
        table({ 'Units dispatched': c.units_dispatched, 'Cameras viewed through an incident': c.incident_camera_views }),
        h('h2', {}, 'Evidence'), table({ 'Bundles exported': c.evidence_exports, 'Recordings played': c.recordings_played })),
      h('div', { class: 'panel' }, h('h2', {}, 'Actions in the audit log'), table(c.actions))));
}
