// Drag points as text and back. Pure functions, no DOM: the editor keeps its state as the same JSON
// string the node reads (`points` widget), so the saved workflow and the prompt always carry what is
// drawn. The server checks the string again (adapter/points.py); this parser only decides what the
// editor can draw and explains why it cannot.

/** The empty value, as the node's default is written. */
export const EMPTY_POINTS = '{"source": [], "target": []}'

// Bounds of the points and the painted region, the server's (adapter/points.py: MAX_TEXT, MAX_PAIRS,
// MAX_STROKES, MAX_REGION_POINTS, MIN_BRUSH, MAX_BRUSH; tests/test_editor_twins.py holds them equal): past
// them the server refuses the text, so the editor refuses it first.
export const MAX_PAIRS = 32
export const MAX_STROKES = 500
export const MAX_REGION_POINTS = 20000
export const MIN_BRUSH = 0.5
export const MAX_BRUSH = 1024
export const MAX_TEXT = 500000

function isNumber(v) {
  return typeof v === 'number' && Number.isFinite(v)
}

function isPoint(p) {
  return Array.isArray(p) && p.length === 2 && p.every(isNumber)
}

/**
 * The optional "region" list of brush strokes, checked as the server's parse_region does.
 * @returns {{region: Array<{radius: number, path: number[][], erase: boolean}>, error: string|null}}
 */
export function parseRegion(strokes) {
  if (strokes == null) return { region: [], error: null } // no "region", or "region": null
  const shape = '{"radius": r, "path": [[x, y], ...], "erase": false}'
  if (!Array.isArray(strokes)) return { region: [], error: `"region" must be a list of brush strokes ${shape}` }
  if (strokes.length > MAX_STROKES) {
    return { region: [], error: `"region" has ${strokes.length} brush strokes; at most ${MAX_STROKES} are allowed` }
  }
  const region = []
  let total = 0
  for (const [i, stroke] of strokes.entries()) {
    const where = `region stroke ${i + 1}`
    if (!stroke || typeof stroke !== 'object' || Array.isArray(stroke) || !Array.isArray(stroke.path) || !stroke.path.length) {
      return { region: [], error: `${where} must be ${shape} with at least one point` }
    }
    const { radius, erase = false } = stroke
    if (!isNumber(radius) || radius < MIN_BRUSH || radius > MAX_BRUSH) {
      return { region: [], error: `${where}: radius must be a number in [${MIN_BRUSH}, ${MAX_BRUSH}] image pixels` }
    }
    if (typeof erase !== 'boolean') return { region: [], error: `${where}: erase must be true or false` }
    total += stroke.path.length
    if (total > MAX_REGION_POINTS) {
      return { region: [], error: `"region" has more than ${MAX_REGION_POINTS} brush points in all` }
    }
    const bad = stroke.path.findIndex((p) => !isPoint(p))
    if (bad >= 0) return { region: [], error: `${where}: point ${bad + 1} must be [x, y] with two numbers` }
    region.push({ radius, path: stroke.path.map((p) => [...p]), erase })
  }
  return { region, error: null }
}

/**
 * Parse the widget text.
 * @returns {{pairs: Array<{source: number[], target: number[]}>, region: Array<object>, error: string|null}}
 *   Empty text (or JSON null) means no pairs (as on the server); anything the server would reject gives `error`.
 *   `region`: the painted brush strokes ({radius, path, erase}), [] when there are none.
 */
export function parsePoints(text) {
  const none = (error) => ({ pairs: [], region: [], error })
  if (text == null || !String(text).trim()) return none(null)
  if (String(text).length > MAX_TEXT) return none(`${String(text).length} characters; at most ${MAX_TEXT} are read`)
  let data
  try {
    data = JSON.parse(text)
  } catch (e) {
    return none(`not valid JSON (${e.message})`)
  }
  if (data === null) return none(null) // JSON null: no points, as on the server
  if (typeof data !== 'object' || !Array.isArray(data.source) || !Array.isArray(data.target)) {
    return none('needs "source" and "target" lists')
  }
  if (data.source.length !== data.target.length) {
    return none(`${data.source.length} source and ${data.target.length} target points`)
  }
  const bad = [...data.source, ...data.target].findIndex((p) => !isPoint(p))
  if (bad >= 0) return none('every point must be [x, y] with two numbers')
  const { region, error } = parseRegion(data.region)
  if (error) return none(error)
  const pairs = data.source.map((s, i) => ({ source: [...s], target: [...data.target[i]] }))
  const different = new Set(pairs.map((p) => [...p.source, ...p.target].join(','))).size // identical pairs count once
  if (different > MAX_PAIRS) return none(`${different} different pairs; at most ${MAX_PAIRS} are allowed`)
  return { pairs, region, error: null }
}

/**
 * The widget text for `pairs` (and the painted `region`, when there is one): one line, numbers as
 * they are, in the node's documented format. Without a region the text is exactly the points-only
 * format (no "region" key).
 */
export function formatPoints(pairs, region = []) {
  const list = (role) => '[' + pairs.map((p) => `[${p[role][0]}, ${p[role][1]}]`).join(', ') + ']'
  const points = `{"source": ${list('source')}, "target": ${list('target')}`
  if (!region?.length) return points + '}'
  const strokes = region.map((s) =>
    `{"radius": ${s.radius}, "path": [${s.path.map((p) => `[${p[0]}, ${p[1]}]`).join(', ')}], "erase": ${Boolean(s.erase)}}`)
  return `${points}, "region": [${strokes.join(', ')}]}`
}

/** Brush points over all strokes (the server allows MAX_REGION_POINTS). */
export function regionPointCount(region) {
  return region.reduce((n, s) => n + s.path.length, 0)
}

/**
 * The painted region as a mask, exactly as the server paints it (sampling/masks.py paint_strokes): a
 * pixel (integer x, y) is under a stroke when its distance to the stroke's polyline (one point: a
 * disc) is at most the radius; strokes apply in order, painting sets 1, erasing sets 0.
 * @param {Uint8Array} [mask] width × height, row by row, painted on in place (zeros when omitted)
 * @returns {Uint8Array} the mask, 1 = in the region
 */
export function paintRegion(region, width, height, mask = new Uint8Array(width * height)) {
  for (const stroke of region) paintStroke(mask, width, height, stroke)
  return mask
}

/** One stroke onto `mask` (see paintRegion); returns the touched box [x0, y0, x1, y1) or null. */
export function paintStroke(mask, width, height, { radius, path, erase }, from = 0) {
  const value = erase ? 0 : 1
  const r2 = radius * radius
  let box = null
  const ends = path.length > 1 ? path.slice(Math.max(0, from - 1)).map((a, i, rest) => [a, rest[i + 1]]).slice(0, -1) : [[path[0], path[0]]]
  for (const [[ax, ay], [bx, by]] of ends) {
    // only the segment's bounding box, grown by the radius, can be reached (as the server's int() bounds)
    const x0 = Math.max(0, Math.trunc(Math.min(ax, bx) - radius))
    const x1 = Math.min(width, Math.trunc(Math.max(ax, bx) + radius) + 1)
    const y0 = Math.max(0, Math.trunc(Math.min(ay, by) - radius))
    const y1 = Math.min(height, Math.trunc(Math.max(ay, by) + radius) + 1)
    if (x0 >= x1 || y0 >= y1) continue
    const dx = bx - ax
    const dy = by - ay
    const len2 = dx * dx + dy * dy
    for (let y = y0; y < y1; y++) {
      for (let x = x0; x < x1; x++) {
        let t = len2 > 0 ? ((x - ax) * dx + (y - ay) * dy) / len2 : 0
        t = t < 0 ? 0 : t > 1 ? 1 : t
        const ex = x - ax - t * dx
        const ey = y - ay - t * dy
        if (ex * ex + ey * ey <= r2) mask[y * width + x] = value
      }
    }
    box = box ? [Math.min(box[0], x0), Math.min(box[1], y0), Math.max(box[2], x1), Math.max(box[3], y1)] : [x0, y0, x1, y1]
  }
  return box
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
