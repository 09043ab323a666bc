// Point editor for the SDE-Drag Point Mover node: a DOM widget showing the image the node edits,
// where a click places a source point, the next click its target; dots can be dragged, a right-click
// deletes a pair, and Undo / Clear sit in the toolbar.
//
// The data lives in the node's ordinary `points` STRING widget (JSON in image pixels), which the
// editor writes and re-reads: it is saved with the workflow, sent in the prompt, and can be typed.
// The editor itself is a DOM widget, the one kind of custom widget that both the classic LiteGraph
// canvas and the Vue "Nodes 2.0" renderer display; it is excluded from the workflow and the prompt.
//
// Where the editor cannot be shown (a frontend without DOM widgets, one whose Vue renderer does not
// display them, as 1.27 does not, or a widget that fails to mount), nothing else changes: the
// `points` text stays, and the node gets a short line saying why the editor is missing (a toast says
// it too, once). It is found out by feature detection: addDOMWidget missing or throwing, or the
// editor's element still not in the page while its node has been on screen, at a zoom where DOM
// widgets are shown, for MISSING_AFTER_MS.

import { app } from '../../../scripts/app.js'
import { api } from '../../../scripts/api.js'
import { DragPointEditor } from './sde_drag/editor_view.js'
import { findEditImage, findRegionSource, inputConnected } from './sde_drag/image_source.js'
import { parsePoints } from './sde_drag/points.js'

const NODE_CLASS = 'SDEDragPointMover'
const POINTS = 'points'
const EDITOR_WIDGET = 'points_editor'
const MIN_EDITOR_HEIGHT = 250
const MIN_NODE_WIDTH = 360
// Upstream edits (a new image in LoadImage, a re-linked latent) raise no single event the editor
// could listen to, so live editors re-read the graph on a slow timer; it only compares a few values.
const POLL_MS = 700
const MISSING_AFTER_MS = 2000
const MIN_SHOWN_SCALE = 0.6 // below it, frontends hide DOM widgets on purpose (hideOnZoom, low quality)
const MISSING_WIDGET = 'point editor'
const REASONS = {
  noDomWidgets: 'this frontend has no DOM widgets (node.addDOMWidget), which the point editor is',
  vue: "this frontend's Vue renderer (Nodes 2.0) does not show DOM widgets such as the point editor: " +
    'turn Nodes 2.0 off in the settings, or update the frontend',
  canvas: 'the point editor did not appear on the canvas'
}

// The widgets each method leaves unread (greyed out here) are the server's table, adapter/drag_methods.py
// METHODS (as UNREAD_WIDGETS), served at DRAG_EDITOR_ROUTE (adapter/routes.py); the editor states none of its own. Until
// it has arrived, or where it cannot be read, no widget is greyed.
const DRAG_EDITOR_ROUTE = '/sde_edit/drag_editor'
let unreadWidgets = null // {method: {always: [names], with_region: [names]}}
let managed = new Set() // every widget the table names: the ones this extension may grey out

async function loadUnreadWidgets() {
  try {
    const response = await api.fetchApi(DRAG_EDITOR_ROUTE)
    if (!response.ok) throw new Error(`HTTP ${response.status}`)
    unreadWidgets = (await response.json()).unread_widgets
    managed = new Set(Object.values(unreadWidgets).flatMap((row) => [...row.always, ...row.with_region]))
  } catch (error) {
    console.warn(`SDE-Drag: ${DRAG_EDITOR_ROUTE} could not be read (${error?.message ?? error}): no widget is greyed out`)
  }
}

const editors = new Map() // node → DragPointEditor
const missing = new Map() // node → the widget that says why its editor is missing
const toasted = new Set() // reasons already told in a toast
let pollTimer = null

function pointsWidget(node) {
  return node.widgets?.find((w) => w.name === POINTS)
}

/** True while `points` has been turned into an input and is fed by a link. */
function pointsLinked(node) {
  return node.inputs?.some((input, slot) => input.widget?.name === POINTS && inputConnected(node, slot)) ?? false
}

function vueNodesMode() {
  return Boolean(window.LiteGraph?.vueNodesMode)
}

/**
 * Set the `points` widget as a person typing would: the value, then its callback (through which the
 * Vue renderer refreshes its copy of the value), then a redraw and an undo checkpoint.
 */
function writePoints(node, text) {
  const widget = pointsWidget(node)
  if (!widget) return
  widget.value = text
  widget.callback?.(text, app.canvas, node)
  node.setDirtyCanvas?.(true, true)
  recordUndoState()
}

/** An undo checkpoint: captureCanvasState() on newer frontends, checkState() (its old name) before. */
function recordUndoState() {
  const tracker = app.extensionManager?.workflow?.activeWorkflow?.changeTracker
  if (typeof tracker?.captureCanvasState === 'function') tracker.captureCanvasState()
  else tracker?.checkState?.()
}

function widgetNamed(node, name) {
  return node.widgets?.find((w) => w.name === name)
}

const regionMemo = new WeakMap() // node → {text, painted}: the timer asks every POLL_MS

/** True when the node moves a region: its `region` input is connected, or `points` has painted strokes. */
function hasRegion(node) {
  const slot = node.inputs?.findIndex((input) => input.name === 'region') ?? -1
  if (slot >= 0 && inputConnected(node, slot)) return true
  const text = String(pointsWidget(node)?.value ?? '')
  if (regionMemo.get(node)?.text !== text) regionMemo.set(node, { text, painted: parsePoints(text).region.length > 0 })
  return regionMemo.get(node).painted
}

/** The names of the widgets the node's current method (and region) leaves unread: the server's table. */
function ignoredWidgets(node) {
  const row = unreadWidgets?.[String(widgetNamed(node, 'method')?.value ?? 'warp')]
  if (!row) return new Set()
  return new Set([...row.always, ...(hasRegion(node) ? row.with_region : [])])
}

const greyedByUs = new WeakSet() // widgets this extension disabled (others' disabled flags are left alone)

/** True when `name` is an accessor somewhere on the object's prototype chain. */
function hasAccessor(object, name) {
  for (let proto = Object.getPrototypeOf(object); proto; proto = Object.getPrototypeOf(proto)) {
    const descriptor = Object.getOwnPropertyDescriptor(proto, name)
    if (descriptor) return Boolean(descriptor.get || descriptor.set)
  }
  return false
}

/**
 * Grey out the widgets the method ignores, with public widget fields only (values and their order,
 * hence widgets_values and the prompt, are untouched):
 * - `widget.disabled`: the classic canvas draws such a widget at half opacity without its value and
 *   ignores clicks on it (1.32 and 1.58); on 1.58 `disabled` is a reactive accessor that its Vue nodes
 *   read as well (the widget's inputs are disabled at once).
 * - where `disabled` is a plain field (1.32), the Vue renderer reads `options.disabled` instead, from
 *   the copy of each widget it makes when it lists a node's widgets (a node added or loaded, the
 *   renderer switched on): `options` is replaced by a copy with `disabled` set, never changed in place
 *   (it may be shared). A later change shows there when the node is listed again.
 */
function markIgnored(node) {
  const ignored = ignoredWidgets(node)
  let changed = false
  for (const widget of node.widgets ?? []) {
    if (!managed.has(widget.name)) continue
    const off = ignored.has(widget.name)
    if (!off && !greyedByUs.has(widget)) continue
    const plainField = !hasAccessor(widget, 'disabled')
    if (Boolean(widget.disabled) === off && (!plainField || Boolean(widget.options?.disabled) === off)) continue
    widget.disabled = off
    if (plainField) widget.options = { ...(widget.options ?? {}), disabled: off }
    if (off) greyedByUs.add(widget)
    else greyedByUs.delete(widget)
    changed = true
  }
  if (changed) node.setDirtyCanvas?.(true, true)
}

/**
 * Wheel and middle-button gestures over the editor belong to the canvas (zoom, pan). Vue nodes
 * forward them themselves; on the classic canvas the editor floats above it and hands them on.
 * Returns true when the event was left for the canvas.
 */
function passToCanvas(event) {
  const middle = event.button === 1 || (event.type === 'pointermove' && (event.buttons & 4) === 4)
  if (event.type !== 'wheel' && !middle) return false
  if (vueNodesMode()) return true
  const canvas = app.canvas
  if (event.type === 'wheel') {
    event.preventDefault()
    canvas?.processMouseWheel?.(event)
  } else if (event.type === 'pointerdown') canvas?.processMouseDown?.(event)
  else if (event.type === 'pointermove') canvas?.processMouseMove?.(event)
  else if (event.type === 'pointerup') canvas?.processMouseUp?.(event)
  return true
}

/**
 * Say on the node (a read-only text line under its widgets) and once in a toast why its editor is
 * missing; the `points` text is left as it is and keeps working.
 */
function reportMissing(node, reason) {
  const label = `${node.title ?? 'SDE-Drag Point Mover'} #${node.id}`
  if (!toasted.has(reason)) {
    toasted.add(reason)
    app.extensionManager?.toast?.add?.({
      severity: 'warn',
      summary: 'SDE-Drag: point editor not shown',
      detail: `${label}: ${reason}. Type the points instead: {"source": [[x, y], ...], "target": [[x, y], ...]} in image pixels.`,
      life: 15000
    })
  }
  const text = `not shown: ${reason}. Type the points above.`
  let line = missing.get(node)
  if (!line && typeof node.addWidget === 'function') {
    line = node.addWidget('text', MISSING_WIDGET, text, () => {}, { serialize: false })
    line.serialize = false // neither in the workflow nor in the prompt
    line.disabled = true
    missing.set(node, line)
  }
  if (line) line.value = text
  node.setDirtyCanvas?.(true, true)
}

/** The editor showed up after all: drop the line that said it was missing. */
function clearMissing(node) {
  const line = missing.get(node)
  if (!line) return
  missing.delete(node)
  node.removeWidget?.(line) // 1.27 on; never a direct edit of node.widgets (the widget store would miss it)
  node.setDirtyCanvas?.(true, true)
}

/** True while the node is on screen at a zoom where its DOM widgets are meant to be shown. */
function shouldShowWidgets(node) {
  const canvas = app.canvas
  if (!canvas || (canvas.graph && node.graph !== canvas.graph) || node.flags?.collapsed) return false
  if ((canvas.ds?.scale ?? 1) < MIN_SHOWN_SCALE || canvas.low_quality) return false
  const area = canvas.visible_area ?? canvas.ds?.visible_area // [x, y, width, height] in graph units
  if (!area || !node.pos || !node.size) return true
  const [x, y] = node.pos
  const [width, height] = node.size
  return x < area[0] + area[2] && x + width > area[0] && y < area[1] + area[3] && y + height > area[1]
}

/** A node on screen whose editor has not been in the page for MISSING_AFTER_MS: say why. */
function watchMount(node, editor) {
  if (editor.element.isConnected) {
    editor.unseenSince = null
    clearMissing(node)
    return true
  }
  if (!shouldShowWidgets(node)) {
    editor.unseenSince = null
    return false
  }
  editor.unseenSince ??= Date.now()
  if (Date.now() - editor.unseenSince >= MISSING_AFTER_MS) {
    reportMissing(node, vueNodesMode() ? REASONS.vue : REASONS.canvas)
  }
  return false
}

function refreshAll() {
  for (const [node, editor] of editors) {
    if (!node.graph) {
      editors.delete(node) // removed without onRemoved (e.g. graph cleared)
      continue
    }
    markIgnored(node)
    if (watchMount(node, editor)) editor.refresh()
  }
  if (!editors.size && pollTimer) {
    clearInterval(pollTimer)
    pollTimer = null
  }
}

function startPolling() {
  if (!pollTimer) pollTimer = setInterval(refreshAll, POLL_MS)
}

function chain(object, method, after) {
  const before = object[method]
  object[method] = function (...args) {
    const result = before?.apply(this, args)
    after.apply(this, args)
    return result
  }
}

function attachEditor(node) {
  const widget = pointsWidget(node)
  if (!widget) return
  const editor = new DragPointEditor({
    readText: () => String(pointsWidget(node)?.value ?? ''),
    writeText: (text) => writePoints(node, text),
    lookupImage: () => findEditImage(app, api, node),
    lookupRegion: () => findRegionSource(app, api, node),
    isReadOnly: () => pointsLinked(node),
    passToCanvas
  })
  // Widgets the method ignores are greyed out, with or without the editor.
  const method = widgetNamed(node, 'method')
  if (method) chain(method, 'callback', () => markIgnored(node))
  markIgnored(node)
  if (typeof node.addDOMWidget !== 'function') {
    reportMissing(node, REASONS.noDomWidgets)
    return
  }
  let domWidget
  try {
    domWidget = node.addDOMWidget(EDITOR_WIDGET, 'sde-drag-points', editor.element, {
      serialize: false, // not part of the prompt: the data is in `points`
      hideOnZoom: true,
      getMinHeight: () => MIN_EDITOR_HEIGHT,
      getValue: () => undefined,
      setValue: () => {}
    })
  } catch (error) {
    reportMissing(node, `the point editor could not be added (${error?.message ?? error})`)
    return
  }
  domWidget.serialize = false // not part of the workflow's widgets_values either
  editor.element.dataset.nodeId = String(node.id)
  editors.set(node, editor)
  startPolling()

  // Typing in the text widget: show it at once (the timer would catch it a little later).
  chain(widget, 'callback', () => {
    editor.refresh()
    markIgnored(node)
  })

  // A loaded workflow sets widget values without callbacks; its node id is known only then.
  chain(node, 'onConfigure', () => {
    editor.element.dataset.nodeId = String(node.id)
    editor.refresh()
    markIgnored(node)
  })
  chain(node, 'onAdded', () => {
    editor.element.dataset.nodeId = String(node.id)
    editors.set(node, editor)
    editor.watchSize()
    startPolling()
  })
  chain(node, 'onRemoved', () => {
    editors.delete(node)
    missing.delete(node)
    editor.destroy()
  })
  chain(node, 'onConnectionsChange', () => {
    editor.refresh()
    markIgnored(node)
  })
  // After a run: the region the drag used (its UI output), for masks the browser cannot read itself.
  chain(node, 'onExecuted', (output) => {
    const shown = output?.sde_drag_region?.[0]
    if (shown) editor.showRunRegion(shown)
  })

  // Room for the editor on a freshly placed node (a loaded workflow brings its own size).
  const [, minHeight] = node.computeSize()
  node.setSize([Math.max(node.size[0], MIN_NODE_WIDTH), Math.max(node.size[1], minHeight)])
}

const CLICKS_CLASS = 'SDEDragClicks'

/** The SDE-Drag nodes reached following links downstream from `node` (a drag node ends its path). */
export function dragNodesReached(graph, node) {
  const found = new Set()
  const seen = new Set([node.id])
  const queue = [node]
  while (queue.length) {
    const current = queue.shift()
    for (let slot = 0; slot < (current.outputs?.length ?? 0); slot++) {
      // LGraphNode.getOutputNodes where the frontend has it: 1.58 warns when output.links is read directly
      const nexts = typeof current.getOutputNodes === 'function'
        ? (current.getOutputNodes(slot) ?? [])
        : (current.outputs[slot].links ?? []).map((id) => {
            const link = graph.links?.get?.(id) ?? graph.links?.[id]
            return link && graph.getNodeById(link.target_id)
          })
      for (const next of nexts) {
        if (!next || seen.has(next.id)) continue
        seen.add(next.id)
        if (next.comfyClass === NODE_CLASS) found.add(next)
        else queue.push(next)
      }
    }
  }
  return [...found]
}

/**
 * SDE-Drag Points as Clicks with its `points` left empty reads the points of the drag node its clicks
 * reach, on the server, from the prompt. ComfyUI's cache key does not hold the prompt, so here the
 * queued value is those points themselves (serializeValue: what is queued; the widget keeps its empty
 * text): a change of the drag's points changes the clicks node's key and it runs again.
 */
function fillClicksFromDrag(node) {
  const widget = node.widgets?.find((w) => w.name === POINTS)
  if (!widget) return
  widget.serializeValue = async () => {
    if (String(widget.value ?? '').trim()) return widget.value
    const reached = dragNodesReached(node.graph ?? app.graph, node)
    const points = reached.length === 1 ? reached[0].widgets?.find((w) => w.name === POINTS) : null
    const slot = reached.length === 1 ? reached[0].inputs?.findIndex((input) => input.name === POINTS) ?? -1 : -1
    const linked = slot >= 0 && inputConnected(reached[0], slot)
    return points && !linked ? points.value : widget.value // else the server names what is wrong
  }
}

app.registerExtension({
  name: 'sde-edit.DragPointEditor',

  nodeCreated(node) {
    if (node.comfyClass === NODE_CLASS) attachEditor(node)
    if (node.comfyClass === CLICKS_CLASS) fillClicksFromDrag(node)
  },

  async init() {
    // before any node is made (the frontend awaits init): a loaded workflow is greyed at once
    await loadUnreadWidgets()
  },

  setup() {
    // A run delivers new pictures: the preview of the input, or the output used as a fallback.
    // Previews load asynchronously after the event, hence the second look.
    api.addEventListener('executed', () => {
      refreshAll()
      setTimeout(refreshAll, 400)
    })
  }
})
