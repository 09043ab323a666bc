// The point editor's DOM: a toolbar and a stage with the image and an SVG overlay of the drag pairs.
// It owns no data of its own beyond a pending source point and the undo history: every change is
// written to the node's `points` text at once, and every render starts from that text, so typing in
// the text widget, loading a workflow and the frontend's own undo all show up here.
//
// Coordinates: points are integer IMAGE pixels; a pixel (x, y) is drawn at its centre. The overlay is
// drawn in the stage's layout pixels (before canvas zoom), so handle sizes follow the node's size and
// the canvas zoom like any other widget; pointer positions are divided by the zoom measured from the
// stage's on-screen rectangle, which works for the classic canvas (a CSS-scaled overlay) and for
// Vue nodes (a CSS-scaled layer) alike.

import {
  EMPTY_POINTS, History, MAX_BRUSH, MAX_PAIRS, MAX_REGION_POINTS, MAX_STROKES, MIN_BRUSH, clonePairs, formatPoints,
  paintRegion, paintStroke, parsePoints, regionPointCount, toPixel
} from './points.js'
import { loadRegionMask, resizeNearest } from './region_mask.js'
import { drawPreview } from './warp_preview.js'

const SVG_NS = 'http://www.w3.org/2000/svg'
const HANDLE_RADIUS = 5 // layout px
const MIN_HIT_SCREEN_PX = 9 // a handle is easy to grab even when zoomed out
const PRESS_DRAG_PX = 4 // screen px a press must travel to count as press-drag-release
const REGION_RGBA = [255, 176, 32, 150] // the painted region's overlay colour
// the part of the region that comes from the connected MASK (not under a stroke): a blue tint, its
// edge (a 4-neighbour outside the region) drawn stronger, so it reads apart from the painted part
const CONNECTED_RGBA = [64, 170, 255, 90]
const CONNECTED_EDGE_RGBA = [64, 170, 255, 230]
const MODES = { points: 'Points', paint: 'Paint region', erase: 'Erase region' }

let stylesAdded = false

/** One stylesheet for all editors; classes are prefixed so nothing leaks into the frontend. */
function addStyles() {
  if (stylesAdded) return
  stylesAdded = true
  const style = document.createElement('style')
  style.textContent = `
.sde-drag-editor { display: flex; flex-direction: column; gap: 4px; min-height: 200px; height: 100%;
  width: 100%; min-width: 0; overflow: hidden; box-sizing: border-box; font: 12px sans-serif;
  color: var(--input-text, #ddd); user-select: none; }
.sde-drag-toolbar { display: flex; align-items: center; gap: 4px; flex: 0 0 auto; min-width: 0; }
/* min-width 0: a long message must shrink (and wrap when it is an error), never push the buttons out */
.sde-drag-status { flex: 1 1 0; min-width: 0; overflow: hidden; text-overflow: ellipsis; white-space: nowrap;
  opacity: .85; }
.sde-drag-status.sde-drag-error { color: #ff7b7b; opacity: 1; white-space: normal; }
.sde-drag-toolbar button { flex: none; font: inherit; padding: 1px 8px; cursor: pointer; border-radius: 4px;
  border: 1px solid var(--border-color, #555); background: var(--comfy-input-bg, #222); color: inherit; }
.sde-drag-toolbar button:disabled { opacity: .4; cursor: default; }
.sde-drag-stage { position: relative; flex: 1 1 auto; min-height: 120px; overflow: hidden; border-radius: 4px;
  background: rgba(0, 0, 0, .25); cursor: crosshair; touch-action: none; }
.sde-drag-stage.sde-drag-locked { cursor: not-allowed; }
.sde-drag-image { position: absolute; inset: 0; width: 100%; height: 100%; object-fit: contain;
  pointer-events: none; }
.sde-drag-image.sde-drag-pixelated { image-rendering: pixelated; }
.sde-drag-overlay { position: absolute; inset: 0; width: 100%; height: 100%; overflow: hidden; }
.sde-drag-hint { position: absolute; left: 8px; right: 8px; bottom: 6px; text-align: center; pointer-events: none;
  text-shadow: 0 0 3px #000, 0 0 2px #000; color: #eee; }
.sde-drag-frame { fill: none; stroke: rgba(255, 255, 255, .35); stroke-dasharray: 4 3; }
.sde-drag-frame.sde-drag-placeholder { fill: rgba(128, 128, 128, .18); }
.sde-drag-arrow { stroke: #fff; stroke-width: 2; fill: #fff; }
.sde-drag-arrow-shadow { stroke: rgba(0, 0, 0, .7); stroke-width: 4; fill: rgba(0, 0, 0, .7); }
.sde-drag-source { fill: #ff4d4d; stroke: #fff; stroke-width: 1.5; cursor: move; }
.sde-drag-target { fill: #3d8bff; stroke: #fff; stroke-width: 1.5; cursor: move; }
.sde-drag-pending { fill: none; stroke: #ff4d4d; stroke-width: 2; stroke-dasharray: 3 2; }
.sde-drag-outside { stroke: #ff7b7b; stroke-width: 2.5; }
.sde-drag-tools { display: flex; align-items: center; gap: 4px; flex: 0 0 auto; flex-wrap: wrap; min-width: 0; }
.sde-drag-tools button { flex: none; font: inherit; padding: 1px 6px; cursor: pointer; border-radius: 4px;
  border: 1px solid var(--border-color, #555); background: var(--comfy-input-bg, #222); color: inherit; }
.sde-drag-tools button[aria-pressed="true"] { background: #3d6fb6; border-color: #8ab4f8; color: #fff; }
.sde-drag-tools button:disabled { opacity: .4; cursor: default; }
.sde-drag-tools label { display: flex; align-items: center; gap: 3px; }
.sde-drag-tools input { width: 4.5em; font: inherit; padding: 0 2px; border-radius: 4px; color: inherit;
  border: 1px solid var(--border-color, #555); background: var(--comfy-input-bg, #222); }
.sde-drag-layer { position: absolute; pointer-events: none; image-rendering: pixelated; }
.sde-drag-region { opacity: 1; }
.sde-drag-brush { fill: rgba(255, 176, 32, .15); stroke: #ffb020; stroke-width: 1.5; pointer-events: none; }
.sde-drag-brush.sde-drag-erasing { fill: rgba(0, 0, 0, .2); stroke: #fff; stroke-dasharray: 3 2; }
.sde-drag-label { fill: #fff; font: bold 9px sans-serif; paint-order: stroke; stroke: #000; stroke-width: 2.5px;
  pointer-events: none; }
`
  document.head.appendChild(style)
}

function el(tag, className, attrs = {}) {
  const node = document.createElement(tag)
  if (className) node.className = className
  Object.assign(node, attrs)
  return node
}

function svg(tag, attrs = {}) {
  const node = document.createElementNS(SVG_NS, tag)
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v))
  return node
}

/** Distance from p to the segment a–b (all in the same units). */
function segmentDistance(p, a, b) {
  const dx = b[0] - a[0]
  const dy = b[1] - a[1]
  const len2 = dx * dx + dy * dy
  const t = len2 ? Math.max(0, Math.min(1, ((p[0] - a[0]) * dx + (p[1] - a[1]) * dy) / len2)) : 0
  return Math.hypot(p[0] - a[0] - t * dx, p[1] - a[1] - t * dy)
}

export class DragPointEditor {
  /**
   * @param {object} io
   * @param {() => string} io.readText the `points` widget's text
   * @param {(text: string) => void} io.writeText sets the `points` widget (and tells the frontend)
   * @param {() => {url: string|null, origin: string|null, hint: object|null, connected: boolean}} io.lookupImage
   * @param {() => boolean} [io.isReadOnly] true while `points` is fed by a link
   * @param {() => {kind: string, key: string, url?: string, rule?: string, title?: string}} [io.lookupRegion]
   *   what feeds the `region` input (image_source.js findRegionSource)
   * @param {(e: Event) => boolean} [io.passToCanvas] hands canvas gestures (wheel, middle drag) on; true if it did
   */
  constructor(io) {
    this.io = io
    this.history = new History()
    this.pending = null // a source pixel waiting for its target
    this.press = null // the press that placed `pending`, while the button is down
    this.preview = null // where that press is being dragged to
    this.drag = null // {index, role, pairs} while a handle is being moved
    this.text = null // the text last rendered
    this.parsed = { pairs: [], error: null }
    this.image = { url: null, width: 0, height: 0, loaded: false }
    this.source = { url: null, origin: null, hint: null, connected: false }
    this.mode = 'points' // or 'paint', 'erase': what a left press on the picture does
    this.brush = null // brush radius in image pixels; a default follows the picture's size until set
    this.stroke = null // {radius, path, erase} while it is being painted
    this.hover = null // layout position of the pointer, for the brush outline
    this.previewOn = false
    this.mask = null // the region at image resolution: the connected mask with the strokes painted over it
    this.strokeMask = null // the strokes alone (points.paintRegion), for the overlay's two colours
    this.maskKey = null // what `mask` was painted from
    // the connected `region` MASK: {kind, key, title, state: 'none'|'loading'|'ready'|'error'|'other', mask}
    this.connected = { kind: 'none', key: 'none', state: 'none', mask: null }
    this.picture = null // {url, data: ImageData} of the shown picture, read for the preview
    this.previewKey = null
    this.message = null // a one-off note in the status line (e.g. a bound reached)
    addStyles()
    this.buildDom()
    this.bindEvents()
    this.refresh()
  }

  buildDom() {
    this.element = el('div', 'sde-drag-editor')
    const toolbar = el('div', 'sde-drag-toolbar')
    this.status = el('span', 'sde-drag-status')
    this.undoButton = el('button', '', { type: 'button', textContent: 'Undo', title: 'Undo the last change made here' })
    this.clearButton = el('button', '', { type: 'button', textContent: 'Clear', title: 'Remove all drag pairs' })
    this.undoButton.dataset.action = 'undo'
    this.clearButton.dataset.action = 'clear'
    toolbar.append(this.status, this.undoButton, this.clearButton)

    const tools = el('div', 'sde-drag-tools')
    this.modeButtons = {}
    for (const [mode, label] of Object.entries(MODES)) {
      const button = el('button', '', { type: 'button', textContent: label })
      button.dataset.mode = mode
      button.title = {
        points: 'Click a source point, then its target',
        paint: 'Drag on the picture to paint the region that moves (method warp)',
        erase: 'Drag on the picture to erase from the painted region'
      }[mode]
      button.addEventListener('click', () => this.setMode(mode))
      this.modeButtons[mode] = button
      tools.append(button)
    }
    const brushLabel = el('label', '', { title: 'Brush radius in image pixels' })
    this.brushInput = el('input', '', { type: 'number', min: MIN_BRUSH, max: MAX_BRUSH, step: 1 })
    this.brushInput.setAttribute('aria-label', 'Brush radius')
    this.brushInput.addEventListener('change', () => this.setBrush(Number(this.brushInput.value)))
    this.brushInput.addEventListener('keydown', (e) => e.stopPropagation()) // digits are not canvas shortcuts
    brushLabel.append('brush', this.brushInput, 'px')
    this.previewButton = el('button', '', { type: 'button', textContent: 'Preview',
      title: 'Show the region moved along the pairs (what method warp moves, before it repairs the seams)' })
    this.previewButton.dataset.action = 'preview'
    this.previewButton.addEventListener('click', () => this.togglePreview())
    tools.append(brushLabel, this.previewButton)

    this.stage = el('div', 'sde-drag-stage')
    this.img = el('img', 'sde-drag-image', { alt: '', draggable: false })
    this.img.addEventListener('load', () => this.onImageLoaded())
    this.img.addEventListener('error', () => this.onImageFailed())
    // the picture's own pixels: the warp preview over the picture, then the painted region over both
    this.previewCanvas = el('canvas', 'sde-drag-layer sde-drag-preview')
    this.regionCanvas = el('canvas', 'sde-drag-layer sde-drag-region')
    this.overlay = svg('svg', { class: 'sde-drag-overlay' })
    this.hint = el('div', 'sde-drag-hint')
    this.stage.append(this.img, this.previewCanvas, this.regionCanvas, this.overlay, this.hint)
    this.element.append(toolbar, tools, this.stage)
  }

  bindEvents() {
    const stop = (e) => e.stopPropagation()
    // Vue nodes start a node drag on pointerdown bubbling from their widgets: keep ours to ourselves.
    for (const type of ['pointerdown', 'pointermove', 'pointerup', 'contextmenu', 'dblclick']) {
      this.element.addEventListener(type, (e) => {
        if (!(type.startsWith('pointer') && this.io.passToCanvas?.(e))) stop(e)
      })
    }
    this.element.addEventListener('wheel', (e) => this.io.passToCanvas?.(e), { passive: false })
    this.stage.addEventListener('pointerdown', (e) => this.onPointerDown(e))
    this.stage.addEventListener('pointermove', (e) => this.onPointerMove(e))
    this.stage.addEventListener('pointerup', (e) => this.onPointerUp(e))
    this.stage.addEventListener('pointercancel', () => this.cancelDrag())
    this.stage.addEventListener('pointerleave', () => {
      this.hover = null
      if (this.mode !== 'points') this.render()
    })
    this.stage.addEventListener('contextmenu', (e) => this.onContextMenu(e))
    this.undoButton.addEventListener('click', () => this.undo())
    this.clearButton.addEventListener('click', () => this.clear())
    // The stage changes size with the node; the overlay is drawn in its pixels.
    this.resizeObserver = new ResizeObserver(() => this.render())
    this.watchSize()
  }

  /** Redraw when the stage changes size (again, after `destroy`, if the node comes back). */
  watchSize() {
    this.resizeObserver.observe(this.stage)
  }

  /** Stop watching the stage (the node is gone). */
  destroy() {
    this.resizeObserver.disconnect()
  }

  // ---- data -------------------------------------------------------------------------------------

  /** Re-read the text and the image source; render only what changed. Cheap enough to poll. */
  refresh() {
    const text = this.io.readText() ?? ''
    let changed = false
    if (text !== this.text && !this.drag && !this.stroke) {
      this.text = text
      this.parsed = parsePoints(text)
      this.pending = null // a half-made pair belongs to the text it was started on
      this.press = null
      changed = true
    }
    const source = this.io.lookupImage()
    if (source.url !== this.source.url || source.origin !== this.source.origin ||
        JSON.stringify(source.hint) !== JSON.stringify(this.source.hint) || source.connected !== this.source.connected) {
      this.source = source
      this.setImageUrl(source.url)
      changed = true
    }
    if (this.refreshConnected()) changed = true
    if (changed) this.render()
  }

  /**
   * Follow the `region` input; a new MASK loader (or file, or channel) is read in the background and
   * the overlay and preview are redrawn when it arrives. True when what feeds it changed.
   */
  refreshConnected() {
    const found = this.io.lookupRegion?.() ?? { kind: 'none', key: 'none' }
    if (found.key === this.connected.key) return false
    const state = found.kind === 'picture' ? 'loading' : found.kind
    const connected = { ...found, state, mask: null, resized: null }
    this.connected = connected
    this.maskKey = null
    if (state === 'loading') {
      loadRegionMask(found.url, found.rule).then((mask) => {
        connected.mask = mask
        connected.state = 'ready'
      }, (error) => {
        connected.state = 'error'
        connected.error = String(error?.message ?? error)
      }).finally(() => {
        if (this.connected !== connected) return // replaced meanwhile
        this.maskKey = null
        this.render()
      })
    }
    return true
  }

  /**
   * The region the last run used ({width, height, runs}: run lengths of out / in pixels, row by row,
   * from the node's UI output), shown as the connected mask when the browser cannot read that mask
   * itself (a segmenter's, state 'other'; or a file it failed to read): kept until the input changes.
   */
  showRunRegion(shown) {
    const { width, height, runs } = shown ?? {}
    if (!(width > 0 && height > 0 && Array.isArray(runs))) return
    const bits = new Uint8Array(width * height)
    let at = 0
    let count = 0
    runs.forEach((n, i) => {
      if (i % 2) {
        bits.fill(1, at, at + n)
        count += n
      }
      at += n
    })
    const c = this.connected
    if (c.state === 'none' || c.state === 'loading' || (c.state === 'ready' && !c.fromRun)) return
    Object.assign(c, { state: 'ready', fromRun: true, mask: { width, height, bits, count }, resized: null })
    this.maskKey = null
    this.render()
  }

  /** The connected mask resized to the picture (Uint8Array), or null while there is none to show. */
  connectedMask(size) {
    const c = this.connected
    if (c.state !== 'ready') return null
    if (c.resized?.width !== size.width || c.resized?.height !== size.height) {
      c.resized = { width: size.width, height: size.height, bits: resizeNearest(c.mask, size.width, size.height) }
      c.resized.count = c.resized.bits.reduce((n, v) => n + v, 0)
    }
    return c.resized.bits
  }

  setImageUrl(url) {
    if (url === this.image.url) return
    this.image = { url, width: 0, height: 0, loaded: false }
    if (url) this.img.src = url
    else this.img.removeAttribute('src')
  }

  onImageLoaded() {
    this.image = { ...this.image, width: this.img.naturalWidth, height: this.img.naturalHeight, loaded: true }
    this.picture = null
    this.render()
  }

  onImageFailed() {
    this.image = { ...this.image, loaded: false }
    this.render()
  }

  /** The image size in pixels: the loaded picture's, else the graph's hint, else null. */
  size() {
    if (this.image.loaded && this.image.width && this.image.height) {
      return { width: this.image.width, height: this.image.height }
    }
    return this.source.hint
  }

  pairs() {
    return this.drag ? this.drag.pairs : this.parsed.pairs
  }

  /** Why clicks are ignored right now, or null when points can be placed. */
  lockReason() {
    if (this.io.isReadOnly?.()) return 'points come from a link; disconnect it to edit here'
    if (this.parsed.error) return `points text: ${this.parsed.error}. Fix it, or press Clear`
    if (!this.size()) return "connect the image's latent (e.g. LoadImage → VAEEncode → latent) to place points"
    return null
  }

  /** The painted region's strokes ({radius, path, erase}), as read from the text. */
  region() {
    return this.parsed.region ?? []
  }

  /**
   * Write new pairs (and region; by default the one the text has) through the widget; the previous
   * text goes to the undo history.
   */
  commit(pairs, region = this.region()) {
    const text = formatPoints(pairs, region)
    if (text === this.text) return
    this.history.push(this.text ?? EMPTY_POINTS)
    this.writeText(text)
  }

  writeText(text) {
    this.io.writeText(text)
    this.text = text
    this.parsed = parsePoints(text)
    this.render()
  }

  undo() {
    this.pending = null
    this.message = null
    const previous = this.history.pop()
    if (previous !== undefined) this.writeText(previous)
    else this.render()
  }

  clear() {
    this.pending = null
    this.message = null
    if (this.parsed.error) {
      this.history.push(this.text)
      this.writeText(EMPTY_POINTS)
    } else {
      this.commit([], [])
    }
    this.render()
  }

  // ---- geometry ---------------------------------------------------------------------------------

  /** Where the image sits in the stage (layout px): scale k and offset, as object-fit: contain. */
  fit() {
    const size = this.size()
    const w = this.stage.clientWidth
    const h = this.stage.clientHeight
    if (!size || !w || !h) return null
    const k = Math.min(w / size.width, h / size.height)
    return { k, ox: (w - size.width * k) / 2, oy: (h - size.height * k) / 2, size }
  }

  /** Layout position of the centre of image pixel p. */
  toLayout(fit, p) {
    return [fit.ox + (p[0] + 0.5) * fit.k, fit.oy + (p[1] + 0.5) * fit.k]
  }

  /** Canvas zoom as seen by this element: on-screen width over layout width. */
  zoom() {
    const rect = this.stage.getBoundingClientRect()
    return this.stage.clientWidth ? rect.width / this.stage.clientWidth : 1
  }

  /** Layout position of a pointer event. */
  eventLayout(e) {
    const rect = this.stage.getBoundingClientRect()
    const z = this.zoom() || 1
    return [(e.clientX - rect.left) / z, (e.clientY - rect.top) / z]
  }

  /** The image pixel under a pointer event (clamped into the image), or null without a size. */
  eventPixel(e, fit = this.fit()) {
    if (!fit) return null
    const [lx, ly] = this.eventLayout(e)
    return [toPixel((lx - fit.ox) / fit.k, fit.size.width), toPixel((ly - fit.oy) / fit.k, fit.size.height)]
  }

  /** The handle under a pointer event, {index, role}, nearest first; or null. */
  handleAt(e, fit) {
    const at = this.eventLayout(e)
    const reach = Math.max(HANDLE_RADIUS + 3, MIN_HIT_SCREEN_PX / (this.zoom() || 1))
    let best = null
    this.pairs().forEach((pair, index) => {
      for (const role of ['target', 'source']) {
        const [x, y] = this.toLayout(fit, pair[role])
        const d = Math.hypot(at[0] - x, at[1] - y)
        if (d <= reach && (!best || d < best.d)) best = { index, role, d }
      }
    })
    return best
  }

  /** The pair whose arrow passes under a pointer event, or -1. */
  arrowAt(e, fit) {
    const at = this.eventLayout(e)
    const reach = MIN_HIT_SCREEN_PX / (this.zoom() || 1)
    return this.pairs().findIndex((pair) =>
      segmentDistance(at, this.toLayout(fit, pair.source), this.toLayout(fit, pair.target)) <= reach)
  }

  // ---- pointer ----------------------------------------------------------------------------------

  onPointerDown(e) {
    if (e.button !== 0) return
    const fit = this.fit()
    if (this.lockReason() || !fit) return
    e.preventDefault()
    if (this.mode !== 'points') {
      this.startStroke(e, fit)
      return
    }
    const handle = this.handleAt(e, fit)
    if (handle && !this.pending) {
      this.drag = { index: handle.index, role: handle.role, pairs: clonePairs(this.parsed.pairs) }
      this.stage.setPointerCapture?.(e.pointerId)
      return
    }
    const pixel = this.eventPixel(e, fit)
    if (this.pending) {
      this.addPair(this.pending, pixel)
    } else {
      // A new source; its target comes from the next click, or from where this press is released
      // if the pointer is dragged (press at the source, release at the target).
      this.pending = pixel
      this.press = { x: e.clientX, y: e.clientY, moved: false }
      this.stage.setPointerCapture?.(e.pointerId)
      this.render()
    }
  }

  onPointerMove(e) {
    if (this.mode !== 'points') {
      this.hover = this.eventLayout(e)
      if (this.stroke) this.extendStroke(e)
      else this.render()
      return
    }
    if (this.press && this.pending) {
      this.press.moved ||= Math.hypot(e.clientX - this.press.x, e.clientY - this.press.y) > PRESS_DRAG_PX
      this.preview = this.press.moved ? this.eventPixel(e) : null
      this.render()
      return
    }
    if (!this.drag) return
    const pixel = this.eventPixel(e)
    if (!pixel) return
    this.drag.pairs[this.drag.index][this.drag.role] = pixel
    this.render()
  }

  onPointerUp(e) {
    this.stage.releasePointerCapture?.(e.pointerId)
    if (this.stroke) {
      this.endStroke(e)
      return
    }
    if (this.press) {
      const { moved } = this.press
      this.press = null
      this.preview = null
      if (moved && this.pending) this.addPair(this.pending, this.eventPixel(e))
      return
    }
    if (!this.drag) return
    const { pairs } = this.drag
    this.drag = null
    this.commit(pairs)
    this.render()
  }

  cancelDrag() {
    if (this.stroke) {
      this.stroke = null
      this.maskKey = null // repaint from the text: the cancelled stroke is dropped
    }
    this.drag = null
    this.press = null
    this.preview = null
    this.render()
  }

  addPair(source, target) {
    this.pending = null
    const pairs = [...clonePairs(this.parsed.pairs), { source, target }]
    if (parsePoints(formatPoints(pairs)).error) { // one pair past MAX_PAIRS: the node would refuse the text
      this.message = `${MAX_PAIRS} pairs, the most the node reads: undo or delete some`
    } else this.commit(pairs)
    this.render()
  }

  // ---- brush ------------------------------------------------------------------------------------

  setMode(mode) {
    this.mode = mode
    this.pending = null
    this.press = null
    this.message = null
    this.render()
  }

  /** The brush radius in image pixels: as set, else about a sixteenth of the picture's shorter side. */
  brushRadius() {
    if (this.brush) return this.brush
    const size = this.size()
    return size ? Math.max(1, Math.round(Math.min(size.width, size.height) / 16)) : 4
  }

  setBrush(radius) {
    if (Number.isFinite(radius)) this.brush = Math.min(MAX_BRUSH, Math.max(MIN_BRUSH, radius))
    this.render()
  }

  togglePreview() {
    this.previewOn = !this.previewOn
    this.previewKey = null
    this.render()
  }

  /** The stroke's point under a pointer event: the image pixel's integer coordinate (its centre). */
  strokePoint(e, fit) {
    return this.eventPixel(e, fit)
  }

  startStroke(e, fit) {
    const region = this.region()
    if (region.length >= MAX_STROKES) {
      this.message = `the region has ${MAX_STROKES} strokes, the most the node reads: undo or clear some`
      this.render()
      return
    }
    const at = this.strokePoint(e, fit)
    this.stroke = { radius: this.brushRadius(), path: [at], erase: this.mode === 'erase' }
    this.strokeBase = regionPointCount(region)
    this.stage.setPointerCapture?.(e.pointerId)
    this.ensureMask(fit.size)
    paintStroke(this.mask, fit.size.width, fit.size.height, this.stroke)
    paintStroke(this.strokeMask, fit.size.width, fit.size.height, this.stroke)
    this.drawRegion(fit)
    this.render()
  }

  /**
   * A pointer move while painting: the point joins the stroke unless it is closer than a quarter of
   * the radius (at least a pixel) to the last one kept, so that the text stays small.
   */
  extendStroke(e, force = false) {
    const fit = this.fit()
    if (!fit) return
    const at = this.strokePoint(e, fit)
    const { path, radius } = this.stroke
    const last = path[path.length - 1]
    const step = Math.hypot(at[0] - last[0], at[1] - last[1])
    if (step === 0 || (!force && step < Math.max(1, radius / 4))) return this.render()
    if (this.strokeBase + path.length >= MAX_REGION_POINTS) {
      this.message = `the region has ${MAX_REGION_POINTS} brush points, the most the node reads`
      return this.render()
    }
    path.push(at)
    paintStroke(this.mask, fit.size.width, fit.size.height, this.stroke, path.length - 1)
    paintStroke(this.strokeMask, fit.size.width, fit.size.height, this.stroke, path.length - 1)
    this.drawRegion(fit)
    this.render()
  }

  endStroke(e) {
    this.extendStroke(e, true)
    const stroke = this.stroke
    this.stroke = null
    this.commit(clonePairs(this.parsed.pairs), [...this.region(), stroke])
    this.render()
  }

  // ---- pointer (points) -------------------------------------------------------------------------

  /** Right-click: cancel a half-made pair, else delete the pair under the pointer. */
  onContextMenu(e) {
    e.preventDefault()
    if (this.mode !== 'points') return
    if (this.pending) {
      this.pending = null
      this.render()
      return
    }
    const fit = this.fit()
    if (!fit || this.lockReason()) return
    const handle = this.handleAt(e, fit)
    const index = handle ? handle.index : this.arrowAt(e, fit)
    if (index < 0) return
    const pairs = clonePairs(this.parsed.pairs)
    pairs.splice(index, 1)
    this.commit(pairs)
  }

  // ---- drawing ----------------------------------------------------------------------------------

  render() {
    const fit = this.fit()
    const lock = this.lockReason()
    this.overlay.replaceChildren()
    this.stage.classList.toggle('sde-drag-locked', Boolean(lock))
    this.img.style.visibility = this.image.loaded ? 'visible' : 'hidden'
    this.img.classList.toggle('sde-drag-pixelated', Boolean(fit && fit.k >= 2))
    if (fit) this.drawFrame(fit)
    this.placeLayers(fit)
    if (fit && !this.stroke) this.drawRegion(fit)
    if (fit) this.drawPreviewLayer(fit)
    if (fit) this.pairs().forEach((pair, i) => this.drawPair(fit, pair, i))
    if (fit && this.pending) this.drawPending(fit)
    if (fit && this.mode !== 'points' && this.hover && !lock) this.drawBrush(fit)
    this.updateStatus(lock)
    this.updateHint(lock)
    this.undoButton.disabled = this.history.size === 0
    this.clearButton.disabled = !this.pairs().length && !this.region().length && !this.parsed.error && !this.pending
    for (const [mode, button] of Object.entries(this.modeButtons)) button.setAttribute('aria-pressed', String(mode === this.mode))
    this.previewButton.setAttribute('aria-pressed', String(this.previewOn))
    if (document.activeElement !== this.brushInput) this.brushInput.value = String(this.brushRadius())
    this.stage.style.cursor = this.mode === 'points' || lock ? '' : 'none'
    this.element.dataset.mode = this.mode
    this.element.dataset.strokes = String(this.parsed.error ? -1 : this.region().length)
    this.element.dataset.pairs = String(this.parsed.error ? -1 : this.parsed.pairs.length)
    this.element.dataset.image = this.image.loaded ? this.source.origin ?? '' : ''
    this.element.dataset.regionSource = this.connected.state
  }

  /** The status line's word on the connected `region` input, or '' when it is not connected. */
  connectedNote() {
    const { state, title } = this.connected
    if (state === 'ready') return `region: mask of ${title} ${this.hasConnectedRegion() ? '(blue)' : '(empty)'}`
    if (state === 'loading') return `region: reading the mask of ${title}`
    if (state === 'error') return `region: from ${title} (its file could not be read), seen after a run`
    if (state === 'other') return `region: from ${title}, seen after a run`
    return ''
  }

  drawFrame(fit) {
    const { width, height } = fit.size
    const placeholder = !this.image.loaded
    this.overlay.append(svg('rect', {
      class: 'sde-drag-frame' + (placeholder ? ' sde-drag-placeholder' : ''),
      x: fit.ox, y: fit.oy, width: width * fit.k, height: height * fit.k,
      'data-width': width, 'data-height': height
    }))
  }

  /** The picture-sized canvases (preview, region) laid over the picture where it is drawn. */
  placeLayers(fit) {
    for (const canvas of [this.previewCanvas, this.regionCanvas]) {
      if (!fit) {
        canvas.style.display = 'none'
        continue
      }
      const { width, height } = fit.size
      if (canvas.width !== width || canvas.height !== height) {
        canvas.width = width
        canvas.height = height
        if (canvas === this.regionCanvas) this.maskKey = null
        else this.previewKey = null
      }
      Object.assign(canvas.style, {
        display: '', left: `${fit.ox}px`, top: `${fit.oy}px`, width: `${width * fit.k}px`, height: `${height * fit.k}px`
      })
    }
  }

  /**
   * The region at the picture's size, as the server's painted_region: the connected MASK (resized
   * nearest-neighbour), the text's strokes painted over it (repainted only when any of them changed).
   */
  ensureMask(size) {
    const key = `${size.width}x${size.height}:${this.connected.key}:${this.connected.state}:${JSON.stringify(this.region())}`
    if (key === this.maskKey && this.mask) return this.mask
    const base = this.connectedMask(size)
    this.strokeMask = paintRegion(this.region(), size.width, size.height)
    this.mask = paintRegion(this.region(), size.width, size.height, base ? Uint8Array.from(base) : undefined)
    this.maskKey = key
    this.maskDrawn = null
    return this.mask
  }

  /**
   * The painted region as a translucent overlay, pixel for pixel the server's mask (each pixel is in or
   * out, as sampling/masks.py paints it). Hidden while the preview shows the moved region.
   */
  drawRegion(fit) {
    if (!this.stroke) this.ensureMask(fit.size)
    const previewing = this.previewShown() && !this.stroke
    this.regionCanvas.style.visibility = previewing ? 'hidden' : 'visible'
    if (!this.stroke && this.maskDrawn === this.maskKey) return
    const { width, height } = fit.size
    const ctx = this.regionCanvas.getContext('2d')
    const image = ctx.createImageData(width, height)
    const mask = this.mask
    const edge = (i, x, y) => (x > 0 && !mask[i - 1]) || (x < width - 1 && !mask[i + 1]) ||
      (y > 0 && !mask[i - width]) || (y < height - 1 && !mask[i + width])
    for (let y = 0, i = 0; y < height; y++) {
      for (let x = 0; x < width; x++, i++) {
        if (!mask[i]) continue
        // painted by a stroke: orange, as always; else from the connected MASK: blue, its edge stronger
        const colour = this.strokeMask[i] ? REGION_RGBA : edge(i, x, y) ? CONNECTED_EDGE_RGBA : CONNECTED_RGBA
        image.data.set(colour, i * 4)
      }
    }
    ctx.putImageData(image, 0, 0)
    this.maskDrawn = this.stroke ? null : this.maskKey
  }

  /** True when the preview is on and there is something to move: pairs, a region, a picture. */
  previewShown() {
    return this.previewOn && this.image.loaded && this.pairs().length > 0 && !this.parsed.error &&
      (this.region().length > 0 || this.hasConnectedRegion())
  }

  /** True when the connected MASK has been read and marks at least one pixel of the picture. */
  hasConnectedRegion() {
    const size = this.size()
    return Boolean(size && this.connectedMask(size) && this.connected.resized.count > 0)
  }

  /** The shown picture's pixels (same-origin: ComfyUI's /view), or null when they cannot be read. */
  pictureData() {
    if (this.picture?.url === this.image.url) return this.picture.data
    let data = null
    try {
      const canvas = document.createElement('canvas')
      canvas.width = this.image.width
      canvas.height = this.image.height
      const ctx = canvas.getContext('2d', { willReadFrequently: true })
      ctx.drawImage(this.img, 0, 0)
      data = ctx.getImageData(0, 0, canvas.width, canvas.height)
    } catch (error) {
      this.message = `no preview: the picture cannot be read (${error?.name ?? error})`
    }
    this.picture = { url: this.image.url, data }
    return data
  }

  /** The warp preview (warp_preview.js) over the picture, recomputed when pairs, region or picture change. */
  drawPreviewLayer(fit) {
    const shown = this.previewShown()
    this.previewCanvas.style.visibility = shown ? 'visible' : 'hidden'
    this.element.dataset.preview = shown ? 'shown' : this.previewOn ? 'on' : 'off'
    if (!shown) return
    const key = `${this.image.url}:${JSON.stringify(this.pairs())}:${this.maskKey}`
    if (key === this.previewKey) return
    const picture = this.pictureData()
    if (!picture || picture.width !== fit.size.width || picture.height !== fit.size.height) return
    const mask = this.ensureMask(fit.size)
    const ctx = this.previewCanvas.getContext('2d')
    const out = ctx.createImageData(picture.width, picture.height)
    const started = performance.now()
    drawPreview(picture, mask, this.pairs(), out.data)
    ctx.putImageData(out, 0, 0)
    this.previewMs = performance.now() - started
    this.previewKey = key
  }

  /** The brush's outline under the pointer while painting or erasing. */
  drawBrush(fit) {
    const r = this.brushRadius() * fit.k
    this.overlay.append(svg('circle', {
      class: 'sde-drag-brush' + (this.mode === 'erase' ? ' sde-drag-erasing' : ''),
      cx: this.hover[0], cy: this.hover[1], r: Math.max(r, 2)
    }))
  }

  drawPair(fit, pair, index) {
    const s = this.toLayout(fit, pair.source)
    const t = this.toLayout(fit, pair.target)
    const outside = (p) => p[0] < 0 || p[1] < 0 || p[0] >= fit.size.width || p[1] >= fit.size.height
    const group = svg('g', { class: 'sde-drag-pair', 'data-index': index })
    group.append(...this.arrowShapes(s, t, 'sde-drag-arrow-shadow'), ...this.arrowShapes(s, t, 'sde-drag-arrow'))
    for (const [role, p, at] of [['source', pair.source, s], ['target', pair.target, t]]) {
      const cls = `sde-drag-${role}` + (outside(p) ? ' sde-drag-outside' : '')
      group.append(svg('circle', { class: cls, cx: at[0], cy: at[1], r: HANDLE_RADIUS, 'data-role': role }))
    }
    const label = svg('text', { class: 'sde-drag-label', x: s[0] - HANDLE_RADIUS - 7, y: s[1] + 3 })
    label.textContent = String(index + 1)
    group.append(label)
    this.overlay.append(group)
  }

  /** A line from a to b ending in a filled head, stopping short of the target handle. */
  arrowShapes(a, b, className) {
    const len = Math.hypot(b[0] - a[0], b[1] - a[1])
    if (len < 1e-6) return []
    const ux = (b[0] - a[0]) / len
    const uy = (b[1] - a[1]) / len
    const tip = [b[0] - ux * HANDLE_RADIUS, b[1] - uy * HANDLE_RADIUS]
    const head = Math.min(8, len * 0.5)
    const base = [tip[0] - ux * head, tip[1] - uy * head]
    const wing = head * 0.5
    const line = svg('line', { class: className, x1: a[0], y1: a[1], x2: base[0], y2: base[1] })
    const points = [tip, [base[0] - uy * wing, base[1] + ux * wing], [base[0] + uy * wing, base[1] - ux * wing]]
    const tri = svg('polygon', { class: className, points: points.map((p) => p.join(',')).join(' ') })
    return [line, tri]
  }

  drawPending(fit) {
    const [x, y] = this.toLayout(fit, this.pending)
    if (this.preview) {
      const to = this.toLayout(fit, this.preview)
      this.overlay.append(...this.arrowShapes([x, y], to, 'sde-drag-arrow-shadow'), ...this.arrowShapes([x, y], to, 'sde-drag-arrow'))
    }
    this.overlay.append(svg('circle', { class: 'sde-drag-pending', cx: x, cy: y, r: HANDLE_RADIUS + 2 }))
    this.overlay.append(svg('circle', { class: 'sde-drag-source', cx: x, cy: y, r: HANDLE_RADIUS - 2 }))
  }

  updateStatus(lock) {
    const size = this.size()
    const count = this.pairs().length
    let text
    const strokes = this.region().length
    const note = this.connectedNote()
    if (lock) text = lock
    else if (this.message) text = this.message
    else if (this.mode !== 'points') {
      const region = note ? `${note} + ${strokes} stroke${strokes === 1 ? '' : 's'}` :
        `region: ${strokes} stroke${strokes === 1 ? '' : 's'}`
      text = `${count} pair${count === 1 ? '' : 's'} · ${region} · drag to ${this.mode === 'erase' ? 'erase' : 'paint'}`
    } else if (this.pending) text = `source (${this.pending[0]}, ${this.pending[1]}): now click its target · right-click cancels`
    else {
      const plural = `${strokes} stroke${strokes === 1 ? '' : 's'}`
      const region = note ? ` · ${note}${strokes ? ` + ${plural}` : ''}` : strokes ? ` · region: ${plural}` : ''
      text = `${count} pair${count === 1 ? '' : 's'}${region} · ${size.width}×${size.height} · click source, then target`
    }
    this.status.textContent = text
    this.status.title = text + '\nDrag a dot to move it; right-click a dot or arrow to delete its pair. ' +
      'Paint region / Erase region: drag on the picture (brush radius in image pixels).'
    this.status.classList.toggle('sde-drag-error', Boolean(this.parsed.error))
  }

  updateHint(lock) {
    let hint = ''
    if (!this.image.loaded && !this.source.connected) {
      hint = 'Connect the latent of the image to edit.'
    } else if (!this.image.loaded) {
      hint = 'No picture yet: run the workflow once (or add a preview of the image).'
      if (this.size() && !lock) hint += ' Points can be placed already.'
    } else if (this.source.origin === 'output') {
      hint = 'Showing the last output (no preview of the input image found).'
    }
    this.hint.textContent = hint
  }
}
