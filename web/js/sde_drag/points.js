// Drag points as text and back. Pure functions, no DOM: the editor keeps its state as the same JSON
// string the node reads (`points` widget), so the saved workflow and the prompt always carry what is
// drawn. The server checks the string again (adapter/points.py); this parser only decides what the
// editor can draw and explains why it cannot.

/** The empty value, as the node's default is written. */
export const EMPTY_POINTS = '{"source": [], "target": []}'

function isPoint(p) {
  return Array.isArray(p) && p.length === 2 && p.every((v) => typeof v === 'number' && Number.isFinite(v))
}

/**
 * Parse the widget text.
 * @returns {{pairs: Array<{source: number[], target: number[]}>, error: string|null}}
 *   Empty text means no pairs (as on the server); anything the server would reject gives `error`.
 */
export function parsePoints(text) {
  if (text == null || !String(text).trim()) return { pairs: [], error: null }
  let data
  try {
    data = JSON.parse(text)
  } catch (e) {
    return { pairs: [], error: `not valid JSON (${e.message})` }
  }
  if (!data || typeof data !== 'object' || !Array.isArray(data.source) || !Array.isArray(data.target)) {
    return { pairs: [], error: 'needs "source" and "target" lists' }
  }
  if (data.source.length !== data.target.length) {
    return { pairs: [], error: `${data.source.length} source and ${data.target.length} target points` }
  }
  const bad = [...data.source, ...data.target].findIndex((p) => !isPoint(p))
  if (bad >= 0) return { pairs: [], error: 'every point must be [x, y] with two numbers' }
  const pairs = data.source.map((s, i) => ({ source: [...s], target: [...data.target[i]] }))
  return { pairs, error: null }
}

/** The widget text for `pairs`: one line, integers as they are, in the node's documented format. */
export function formatPoints(pairs) {
  const list = (role) => '[' + pairs.map((p) => `[${p[role][0]}, ${p[role][1]}]`).join(', ') + ']'
  return `{"source": ${list('source')}, "target": ${list('target')}}`
}

/** A copy of `pairs` that can be edited without touching the original. */
export function clonePairs(pairs) {
  return pairs.map((p) => ({ source: [...p.source], target: [...p.target] }))
}

/** Image pixel (integer) under image coordinate `u` (a float), kept inside [0, size - 1]. */
export function toPixel(u, size) {
  return Math.min(size - 1, Math.max(0, Math.floor(u)))
}

/**
 * A bounded undo history of widget texts. The editor pushes the text before each change it makes;
 * undo hands back the most recent one.
 */
export class History {
  constructor(limit = 100) {
    this.limit = limit
    this.stack = []
  }

  push(text) {
    if (this.stack[this.stack.length - 1] === text) return
    this.stack.push(text)
    if (this.stack.length > this.limit) this.stack.shift()
  }

  pop() {
    return this.stack.pop()
  }

  get size() {
    return this.stack.length
  }
}
