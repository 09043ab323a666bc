// Which image does an SDE-Drag node edit? The node only receives a LATENT, so the editor follows the
// graph to find a picture of it:
//   1. upstream from the `latent` input, through latent nodes (SetLatentNoiseMask, ...) and through
//      VAEEncode's `pixels` to the node that makes the IMAGE; the picture is that node's own preview
//      (LoadImage) or a preview node attached to the same IMAGE output (PreviewImage);
//   2. else downstream: the last run's output (our latent → VAEDecode → PreviewImage / SaveImage),
//      which has the same size as the input.
// Nodes met on the way also give the image size when no picture exists yet (`width`/`height`
// widgets, e.g. EmptyLatentImage; a square `resolution`, e.g. ReferenceSceneImage), so points can be
// placed before the first run.
// Pure graph reading: `app` and `api` are passed in, nothing is changed.

const MAX_DEPTH = 12
const IMAGE = 'IMAGE'
const LATENT = 'LATENT'

// Graph reads go through LGraphNode's own methods (getInputLink, isInputConnected, getOutputNodes),
// which every frontend from 1.2x to today has; newer ones warn when a slot's `link` / `links` field
// is read directly. The field reads below are only a fallback for a frontend without those methods.

/** Links by id on a frontend without node.getInputLink / getOutputNodes (a Map or an object). */
function legacyLink(graph, id) {
  if (id == null || !graph) return null
  if (typeof graph.getLink === 'function') return graph.getLink(id) ?? null
  const links = graph.links
  return (links?.get ? links.get(id) : links?.[id]) ?? null
}

/** The link feeding input `slot` of `node`, or null. */
function inputLink(node, slot) {
  if (!node.graph || !node.inputs?.[slot]) return null
  if (typeof node.getInputLink === 'function') return node.getInputLink(slot) ?? null
  return legacyLink(node.graph, node.inputs[slot].link)
}

/** True when input `slot` of `node` is fed by a link. */
export function inputConnected(node, slot) {
  if (!node.inputs?.[slot]) return false
  if (typeof node.isInputConnected === 'function') return Boolean(node.isInputConnected(slot))
  return node.inputs[slot].link != null
}

function upstreamOf(node, slot) {
  const link = inputLink(node, slot)
  if (!link) return null
  const origin = node.graph.getNodeById(link.origin_id)
  return origin ? { node: origin, slot: link.origin_slot } : null
}

/** Nodes fed by output `slot` of `node`. */
function downstreamOf(node, slot) {
  const graph = node.graph
  if (!graph || !node.outputs?.[slot]) return []
  if (typeof node.getOutputNodes === 'function') return (node.getOutputNodes(slot) ?? []).filter(Boolean)
  return (node.outputs[slot].links ?? [])
    .map((id) => legacyLink(graph, id))
    .filter(Boolean)
    .map((link) => graph.getNodeById(link.target_id))
    .filter(Boolean)
}

/** The key the frontend stores a node's outputs under: its id, prefixed by its subgraph's id. */
function locatorId(app, node) {
  const graph = node.graph
  const inSubgraph = graph && app.graph && graph !== app.graph && graph.id
  return inSubgraph ? `${graph.id}:${node.id}` : String(node.id)
}

function viewUrl(api, image) {
  const params = new URLSearchParams({
    filename: image.filename,
    subfolder: image.subfolder ?? '',
    type: image.type ?? 'output'
  })
  return api.apiURL(`/view?${params}`)
}

/**
 * The URL of the picture a node shows, or null. `node.imgs` is what both renderers display once
 * loaded; the frontend's output store (`app.nodeOutputs`) has it earlier and also when the node is
 * off screen. LoadImage is read from its `image` widget so that a freshly opened workflow shows the
 * picture before its preview has loaded.
 */
export function nodePictureUrl(app, api, node) {
  const img = node.imgs?.[node.imageIndex ?? 0] ?? node.imgs?.[0]
  if (img?.src) return img.src
  const outputs = app.nodeOutputs?.[locatorId(app, node)]
  const image = outputs?.images?.[0]
  if (image?.filename) return viewUrl(api, image)
  return node.comfyClass === 'LoadImage' ? chosenFileUrl(api, node) : null
}

/**
 * The /view URL of the file chosen in a loader's `image` widget (LoadImage, LoadImageMask), or null:
 * the file itself, never a preview of it (a preview may be re-encoded without its alpha).
 */
function chosenFileUrl(api, node) {
  const widget = node.widgets?.find((w) => w.name === 'image')
  if (typeof widget?.value !== 'string' || !widget.value) return null
  // "sub/name.png" or "name.png [output]": the folder annotation names the file's root.
  const annotated = widget.value.match(/^(.*) \[(input|output|temp)\]$/)
  const [subfolder, filename] = splitPath(annotated ? annotated[1] : widget.value)
  return viewUrl(api, { filename, subfolder, type: annotated ? annotated[2] : 'input' })
}

function splitPath(path) {
  const cut = path.lastIndexOf('/')
  return cut < 0 ? ['', path] : [path.slice(0, cut), path.slice(cut + 1)]
}

/** Image size from a node's widgets, or null: width/height in pixels, or a square resolution. */
export function sizeHint(node) {
  const value = (name) => {
    const v = node.widgets?.find((w) => w.name === name)?.value
    return typeof v === 'number' && v > 0 ? Math.round(v) : null
  }
  const width = value('width')
  const height = value('height')
  if (width && height) return { width, height }
  const resolution = value('resolution')
  return resolution ? { width: resolution, height: resolution } : null
}

function isActive(node) {
  return node.mode !== 2 && node.mode !== 4 // 2: muted, 4: bypassed
}

/**
 * A node that shows the IMAGE it is fed: one without outputs (PreviewImage, SaveImage up to ComfyUI
 * 0.3.x), or an output node whose outputs are all IMAGE (from ComfyUI 0.33 PreviewImage and SaveImage
 * pass their `images` on). `nodeData` is the node's definition from /object_info, as every frontend
 * hands it to extensions (beforeRegisterNodeDef) and keeps it on the node's class.
 */
function isViewer(node) {
  const outputs = node.outputs ?? []
  if (!outputs.length) return true
  return node.constructor?.nodeData?.output_node === true && outputs.every((output) => output.type === IMAGE)
}

/** Index of the input to follow upstream: an IMAGE input first, else a LATENT one, else a reroute's. */
function nextInput(node) {
  const inputs = node.inputs ?? []
  const linked = (i) => inputConnected(node, i)
  const byType = (type) => inputs.findIndex((input, i) => input.type === type && linked(i))
  const image = byType(IMAGE)
  if (image >= 0) return image
  const latent = byType(LATENT)
  if (latent >= 0) return latent
  return inputs.length === 1 && linked(0) ? 0 : -1 // Reroute and other one-input pass-throughs
}

/** A picture of the IMAGE at output `slot` of `node`: its own, or that of a viewer fed by it. */
function pictureAtOutput(app, api, node, slot) {
  const own = nodePictureUrl(app, api, node)
  if (own) return { url: own, node }
  if (node.outputs?.[slot]?.type !== IMAGE) return null
  for (const viewer of downstreamOf(node, slot)) {
    const url = isActive(viewer) && isViewer(viewer) ? nodePictureUrl(app, api, viewer) : null
    if (url) return { url, node: viewer }
  }
  return null
}

/** Walk upstream from (node, slot); the first picture found wins, the first size hint is kept. */
function searchUpstream(app, api, start) {
  let hint = null
  let at = start
  for (let depth = 0; at && depth < MAX_DEPTH; depth++) {
    const picture = pictureAtOutput(app, api, at.node, at.slot)
    if (picture) return { ...picture, hint }
    hint = hint ?? sizeHint(at.node)
    const next = nextInput(at.node)
    at = next >= 0 ? upstreamOf(at.node, next) : null
  }
  return { url: null, hint }
}

/** A picture of the last run's output: our first output → decoder → viewer, a few hops at most. */
function searchDownstream(app, api, node) {
  let frontier = [node]
  const seen = new Set([node.id])
  for (let depth = 0; depth < 3 && frontier.length; depth++) {
    const next = []
    for (const n of frontier) {
      const slots = n === node ? [0] : (n.outputs ?? []).map((_, i) => i)
      for (const slot of slots) {
        for (const target of downstreamOf(n, slot)) {
          if (seen.has(target.id)) continue
          seen.add(target.id)
          const url = target !== node && isActive(target) ? nodePictureUrl(app, api, target) : null
          if (url) return { url, node: target }
          next.push(target)
        }
      }
    }
    frontier = next
  }
  return null
}

/**
 * What the editor should show for `node` (an SDE-Drag Point Mover):
 *   { url, origin: 'input' | 'output' | null, hint: {width, height} | null, connected: boolean }
 * `url` is null when no picture is known; `hint` is a size from the graph (the loaded picture's own
 * size takes precedence over it).
 */
export function findEditImage(app, api, node) {
  const slot = node.inputs?.findIndex((input) => input.name === 'latent') ?? -1
  const start = slot >= 0 ? upstreamOf(node, slot) : null
  const up = start ? searchUpstream(app, api, start) : { url: null, hint: null }
  if (up.url) return { url: up.url, origin: 'input', hint: up.hint, connected: true }
  const down = searchDownstream(app, api, node)
  if (down) return { url: down.url, origin: 'output', hint: up.hint, connected: Boolean(start) }
  return { url: null, origin: null, hint: up.hint, connected: Boolean(start) }
}

// MASK loaders whose mask the editor computes itself from the chosen file (build/ComfyUI/nodes.py):
// LoadImage's (and LoadImageOutput's) second output is 1 − alpha where the file has alpha (none: an
// empty mask); LoadImageMask's output is its `channel` (alpha: 1 − alpha).
const ALPHA_LOADERS = new Set(['LoadImage', 'LoadImageOutput'])
const CHANNELS = { alpha: 'A', red: 'R', green: 'G', blue: 'B' }

/**
 * What feeds the node's `region` input:
 *   { kind: 'none' }: not connected (or no such input);
 *   { kind: 'picture', url, rule: 'loadimage' | 'A' | 'R' | 'G' | 'B', title, key }: a MASK the editor
 *     can compute from a file (LoadImage's MASK: rule 'loadimage'; LoadImageMask: its channel);
 *   { kind: 'other', title, key }: anything else (a mask known only after a run).
 * Reroute nodes on the way are followed. `key` changes whenever the mask may change.
 */
export function findRegionSource(app, api, node) {
  const slot = node.inputs?.findIndex((input) => input.name === 'region') ?? -1
  if (slot < 0 || !inputConnected(node, slot)) return { kind: 'none', key: 'none' }
  let at = upstreamOf(node, slot)
  for (let hops = 0; at && at.node.comfyClass === 'Reroute' && hops < MAX_DEPTH; hops++) {
    at = inputConnected(at.node, 0) ? upstreamOf(at.node, 0) : null
  }
  if (!at) return { kind: 'other', title: 'an unconnected reroute', key: 'other:reroute' }
  const origin = at.node
  const title = String(origin.title || origin.type || origin.comfyClass || 'another node')
  const other = { kind: 'other', title, key: `other:${origin.id}:${title}` }
  if (!isActive(origin)) return other
  let rule = null
  if (ALPHA_LOADERS.has(origin.comfyClass) && at.slot === 1) rule = 'loadimage'
  else if (origin.comfyClass === 'LoadImageMask' && at.slot === 0) {
    const channel = origin.widgets?.find((w) => w.name === 'channel')?.value
    rule = CHANNELS[channel] ?? null
  }
  const url = rule ? chosenFileUrl(api, origin) : null
  if (!url) return other
  return { kind: 'picture', url, rule, title, key: `picture:${rule}:${url}` }
}
