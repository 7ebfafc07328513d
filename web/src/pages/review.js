// The review queue: candidate cards with the two-person rule, confirm and
// reject, and the j/k/c/r keys.
import { state, h, fmtTime, can, api } from '../core.js';
import { updateBadge } from '../live.js';
import { currentPage } from '../shell.js';

export async function loadQueue() {
  state.queue = await api('GET', '/api/v1/candidates?status=candidate&limit=100');
  if (state.selected >= state.queue.length) state.selected = Math.max(0, state.queue.length - 1);
  updateBadge();
  return state.queue;
}

// How rarely a stranger's face scores as close to one listed person, in
// words: the false-match rate per comparison measured by `civitas eval
// identify`, for colour pictures and for gray (infrared) ones. It is per
// listed person: against a list of many, a stranger is that many times more
// likely to resemble someone on it, and the card says so.
export function strangerRate(r) {
  if (!r) return 'not measured';
  // Two significant figures: the rates come from a finite measurement.
  const one = (rate, bound) => {
    const n = Number((1 / rate).toPrecision(2));
    return `${bound ? 'fewer than ' : 'about '}1 in ${n.toLocaleString('en')}`;
  };
  return `${one(r.per_comparison, r.upper_bound)} strangers would score this close to this one person in a colour picture; `
    + `${one(r.gray_per_comparison, r.gray_upper_bound)} in a gray (infrared) one. A list of many people multiplies the chance that a stranger resembles someone on it (measured on real photographs).`;
}

function candidateCard(c, i) {
  const reason = h('input', { placeholder: 'Reason (required to reject)', 'aria-label': 'reason', class: 'reason' });
  const note = state.notes[c.id];
  const msg = h('div', {}, note ? h('div', { class: note.cls, role: note.cls === 'error' ? 'alert' : 'status' }, note.text) : null);
  const mine = c.reviews.find((r) => r.username === state.me.username);
  const confirms = c.reviews.filter((r) => r.decision === 'confirm').length;
  const required = c.kind === 'plate' ? 1 : 2;
  const expired = c.basis.expires_at_ms < Date.now();
  const act = async (decision) => {
    try {
      const out = await api('POST', `/api/v1/candidates/${c.id}/review`, { decision, reason: reason.value });
      if (out.status === 'candidate') {
        state.notes[c.id] = { cls: 'notice', text: `Confirmation recorded (${out.confirmations} of ${out.required}). A second, different person must also confirm.` };
      } else {
        delete state.notes[c.id];
        state.decided.unshift({ id: c.id, status: out.status, text: `Candidate ${c.id} (${c.entry_name}) is now ${out.status} (${out.confirmations} of ${out.required} confirmations).` });
        state.decided = state.decided.slice(0, 5);
      }
    } catch (e) {
      state.notes[c.id] = { cls: 'error', text: e.status ? `Refused (${e.status}): ${e.message}` : String(e.message || e) };
    }
    await loadQueue();
    drawReview();
  };
  const plate = c.kind === 'plate';
  const evidence = plate
    ? [h('figure', { class: 'plate' }, h('img', { src: `/api/v1/candidates/${c.id}/crop`, alt: 'plate seen by the camera' }), h('figcaption', {}, 'Plate seen by camera')),
      h('figure', { class: 'plate listed' }, h('div', { class: 'plate-text' }, c.plate), h('figcaption', {}, `Listed on hotlist ${c.hotlist}`))]
    : [h('figure', {}, h('img', { src: `/api/v1/candidates/${c.id}/crop`, alt: 'face seen by the camera' }), h('figcaption', {}, 'Seen by camera')),
      h('figure', {}, h('img', { src: `/api/v1/candidates/${c.id}/entry-photo`, alt: 'enrolled photo' }), h('figcaption', {}, 'Enrolled photo'))];
  return h('article', { class: `card${i === state.selected ? ' selected' : ''}`, 'data-id': c.id, id: `cand-${c.id}` },
    ...evidence,
    h('div', {},
      h('h2', {}, `#${c.id} · ${c.entry_name} `, h('span', { class: `pill ${c.status}` }, c.status)),
      h('dl', {},
        ...(plate
          ? [h('dt', {}, 'Plate read'), h('dd', { class: 'read' }, `${c.read_text} (listed ${c.plate}; confidence ${c.detector_score.toFixed(2)})`),
            h('dt', {}, 'Distance'), h('dd', {}, `${c.distance.toFixed(2)} (0.25 per OCR confusion such as 0/O, 1 per other difference; the hotlist sets the limit)`)]
          : [h('dt', {}, 'Distance'), h('dd', {}, `${c.distance.toFixed(3)} (lower is closer; threshold set per deployment)`),
            h('dt', {}, 'Strangers this close'), h('dd', { class: 'stranger-rate' }, strangerRate(c.stranger_rate))]),
        h('dt', {}, 'Camera'), h('dd', {}, c.camera),
        h('dt', {}, 'Seen at'), h('dd', {}, fmtTime(c.frame_time_ms)),
        h('dt', {}, 'Legal basis'), h('dd', {}, `${c.basis.kind} — ${c.basis.authority}, ref. ${c.basis.reference}`),
        h('dt', {}, 'Purpose'), h('dd', {}, c.basis.purpose),
        h('dt', {}, 'Basis expires'), h('dd', { class: expired ? 'flag-expired' : '' }, fmtTime(c.basis.expires_at_ms), expired ? ' (expired)' : ''),
        h('dt', {}, 'Reviews'), h('dd', { class: 'reviews' }, c.reviews.length ? c.reviews.map((r) => `${r.decision} by ${r.username}`).join('; ') : 'none yet')),
      can('dispatch') ? h('p', { class: 'muted small' }, 'Only a confirmed ', plate ? 'plate hit' : 'match', ' can open an incident that dispatches units',
        plate ? '.' : ' (two different people must confirm it). ', h('a', { href: `#/incidents?candidate=${c.id}`, class: 'try-incident' }, 'Open incident…')) : null,
      h('p', { class: 'rule' }, plate
        ? `Plate hits: ${confirms} of ${required} confirmation. Check the plate in the picture against the listed plate before confirming; one rejection rejects it.`
        : `Two-person rule: ${confirms} of ${required} confirmations. A match stays a candidate until ${required} different people confirm it; one rejection rejects it.`),
      h('div', { class: 'actions' },
        h('button', { class: 'primary confirm', disabled: !can('confirm') || !!mine, onclick: () => act('confirm'), title: 'c' }, mine ? `You ${mine.decision}ed` : 'Confirm'),
        reason,
        h('button', { class: 'danger reject', disabled: !can('confirm') || !!mine, onclick: () => act('reject'), title: 'r' }, 'Reject')),
      msg));
}

export function drawReview() {
  const page = document.querySelector('#page');
  if (!page || currentPage() !== 'review') return;
  page.replaceChildren(reviewBody());
}

function reviewBody() {
  return h('div', {},
    h('h1', {}, 'Review queue'),
    h('div', { id: 'decided' }, state.decided.map((d) => h('div', { class: 'notice' }, d.text,
      d.status === 'confirmed' && can('dispatch') ? [' ', h('a', { href: `#/incidents?candidate=${d.id}`, class: 'open-incident', id: `open-incident-${d.id}` }, 'Open an incident from this match')] : null))),
    h('p', { class: 'keys' }, 'Keys: ', h('kbd', {}, 'j'), '/', h('kbd', {}, 'k'), ' next/previous, ', h('kbd', {}, 'c'), ' confirm, ', h('kbd', {}, 'r'), ' reject (type the reason first). New candidates arrive live.'),
    state.queue.length
      ? h('div', { class: 'cards', id: 'queue' }, state.queue.map(candidateCard))
      : h('p', { class: 'muted', id: 'queue' }, 'Nothing awaits review.'));
}

export async function reviewPage() {
  await loadQueue();
  return reviewBody();
}

document.addEventListener('keydown', (e) => {
  if (currentPage() !== 'review' || e.target.tagName === 'INPUT' && e.key !== 'Enter') return;
  const cards = [...document.querySelectorAll('.card')];
  if (!cards.length) return;
  if (e.key === 'j' || e.key === 'k') {
    state.selected = Math.min(cards.length - 1, Math.max(0, state.selected + (e.key === 'j' ? 1 : -1)));
    cards.forEach((c, i) => c.classList.toggle('selected', i === state.selected));
    cards[state.selected].scrollIntoView({ block: 'nearest' });
  } else if (e.key === 'c') cards[state.selected].querySelector('.confirm').click();
  else if (e.key === 'r') cards[state.selected].querySelector('.reject').click();
});
