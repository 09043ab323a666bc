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

import { EMPTY_POINTS, History, clonePairs, formatPoints, parsePoints, toPixel } from './points.js'

const SVG_NS = 'http://www.w3.org/2000/svg'
const HANDLE_RADIUS = 5 // layout px
const MIN_HIT_SCREEN_PX = 9 // a handle is easy to grab even when zoomed out
const PRESS_DRAG_PX = 4 // screen px a press must travel to count as press-drag-release

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

    this.stage = el('div', 'sde-drag-stage')
    this.img = el('img', 'sde-drag-image', { alt: '', draggable: false })
    this.img.addEventListener('load', () => this.onImageLoaded())
    this.img.addEventListener('error', () => this.onImageFailed())
    this.overlay = svg('svg', { class: 'sde-drag-overlay' })
    this.hint = el('div', 'sde-drag-hint')
    this.stage.append(this.img, this.overlay, this.hint)
    this.element.append(toolbar, this.stage)
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
    if (text !== this.text && !this.drag) {
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
    if (changed) this.render()
  }

  setImageUrl(url) {
    if (url === this.image.url) return
    this.image = { url, width: 0, height: 0, loaded: false }
    if (url) this.img.src = url
    else this.img.removeAttribute('src')
  }

  onImageLoaded() {
    this.image = { ...this.image, width: this.img.naturalWidth, height: this.img.naturalHeight, loaded: true }
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

  /** Write new pairs through the widget; the previous text goes to the undo history. */
  commit(pairs) {
    const text = formatPoints(pairs)
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
    const previous = this.history.pop()
    if (previous !== undefined) this.writeText(previous)
    else this.render()
  }

  clear() {
    this.pending = null
    if (this.parsed.error) {
      this.history.push(this.text)
      this.writeText(EMPTY_POINTS)
    } else {
      this.commit([])
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
    this.drag = null
    this.press = null
    this.preview = null
    this.render()
  }

  addPair(source, target) {
    this.pending = null
    this.commit([...clonePairs(this.parsed.pairs), { source, target }])
    this.render()
  }

  /** Right-click: cancel a half-made pair, else delete the pair under the pointer. */
  onContextMenu(e) {
    e.preventDefault()
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
    if (fit) this.pairs().forEach((pair, i) => this.drawPair(fit, pair, i))
    if (fit && this.pending) this.drawPending(fit)
    this.updateStatus(lock)
    this.updateHint(lock)
    this.undoButton.disabled = this.history.size === 0
    this.clearButton.disabled = !this.pairs().length && !this.parsed.error && !this.pending
    this.element.dataset.pairs = String(this.parsed.error ? -1 : this.parsed.pairs.length)
    this.element.dataset.image = this.image.loaded ? this.source.origin ?? '' : ''
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
    if (lock) text = lock
    else if (this.pending) text = `source (${this.pending[0]}, ${this.pending[1]}): now click its target · right-click cancels`
    else text = `${count} pair${count === 1 ? '' : 's'} · ${size.width}×${size.height} · click source, then target`
    this.status.textContent = text
    this.status.title = text + '\nDrag a dot to move it; right-click a dot or arrow to delete its pair.'
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
