// The mask a connected MASK loader gives the node's `region` input, computed in the browser from the
// file it loads (image_source.js findRegionSource), by ComfyUI's rules (build/ComfyUI/nodes.py):
//   - LoadImage's MASK: 1 − alpha where the picture has alpha ('A' among PIL's bands, or a palette
//     image with transparency); a picture without alpha gives an empty 64×64 mask;
//   - LoadImageMask: the chosen channel of the picture converted to RGBA (alpha: 1 − alpha).
// A pixel counts as in at 0.5 and above: 1 − a/255 ≥ 0.5 for a ≤ 127, v/255 ≥ 0.5 for v ≥ 128.
// The server resizes the MASK to the picture nearest-neighbour (adapter/drag.py painted_region, torch's
// "nearest"); resizeNearest does the same, index for index. No side effects: the editor calls these.

const RULE_CHANNEL = { loadimage: 3, A: 3, R: 0, G: 1, B: 2 }

/**
 * True when PIL would give the file no alpha band for LoadImage: a PNG whose colour type is grey (0) or
 * RGB (2). A tRNS chunk makes such pixels transparent in the browser, but PIL keeps them as 'L' / 'RGB'
 * with a `transparency` note that LoadImage does not read (LoadImageMask's convert('RGBA') does).
 */
export function pngWithoutAlpha(bytes) {
  const png = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]
  if (bytes.length < 26 || !png.every((b, i) => bytes[i] === b)) return false
  const colourType = bytes[25] // IHDR: length (4), "IHDR" (4), width (4), height (4), depth (1), colour type
  return colourType === 0 || colourType === 2
}

/**
 * The mask of an RGBA picture (ImageData-like) by `rule`: a Uint8Array, 1 = in the region.
 * @param {{width: number, height: number, data: ArrayLike<number>}} picture
 * @param {'loadimage'|'A'|'R'|'G'|'B'} rule
 * @param {boolean} [noAlpha] LoadImage's file has no alpha band: an empty 64×64 mask, as the node's
 */
export function maskFromPicture(picture, rule, noAlpha = false) {
  if (rule === 'loadimage' && noAlpha) return { width: 64, height: 64, bits: new Uint8Array(64 * 64), count: 0 }
  const { width, height, data } = picture
  const channel = RULE_CHANNEL[rule]
  const inverted = channel === 3
  const bits = new Uint8Array(width * height)
  let count = 0
  for (let i = 0; i < bits.length; i++) {
    const v = data[i * 4 + channel]
    if (inverted ? v <= 127 : v >= 128) {
      bits[i] = 1
      count++
    }
  }
  return { width, height, bits, count }
}

/** torch's "nearest" source index: floor(dst · (in / out)) in float32, at most in − 1. */
function nearestIndex(dst, inSize, outSize) {
  if (inSize === outSize) return dst
  const scale = Math.fround(inSize / outSize)
  return Math.min(Math.floor(Math.fround(dst * scale)), inSize - 1)
}

/** `mask` ({width, height, bits}) resized to width × height nearest-neighbour, as the server does. */
export function resizeNearest(mask, width, height) {
  const out = new Uint8Array(width * height)
  const xs = Int32Array.from({ length: width }, (_, x) => nearestIndex(x, mask.width, width))
  for (let y = 0; y < height; y++) {
    const row = nearestIndex(y, mask.height, height) * mask.width
    for (let x = 0; x < width; x++) out[y * width + x] = mask.bits[row + xs[x]]
  }
  return out
}

/**
 * Fetch the loader's file (its /view URL, same-origin) and compute its mask by `rule`. The picture is
 * drawn in a canvas and read with getImageData: alpha is exact; a colour channel is what the canvas
 * holds (the browser applies an embedded colour profile, and keeps colours premultiplied by alpha, so
 * a colour channel of nearly transparent pixels can differ from PIL's).
 * @returns {Promise<{width: number, height: number, bits: Uint8Array, count: number}>}
 */
export async function loadRegionMask(url, rule) {
  const response = await fetch(url, { cache: 'no-store' })
  if (!response.ok) throw new Error(`HTTP ${response.status}`)
  const buffer = await response.arrayBuffer()
  const noAlpha = rule === 'loadimage' && pngWithoutAlpha(new Uint8Array(buffer, 0, Math.min(32, buffer.byteLength)))
  const objectUrl = URL.createObjectURL(new Blob([buffer]))
  try {
    const img = new Image()
    img.src = objectUrl
    await img.decode()
    const canvas = document.createElement('canvas')
    canvas.width = img.naturalWidth
    canvas.height = img.naturalHeight
    const ctx = canvas.getContext('2d', { willReadFrequently: true })
    ctx.drawImage(img, 0, 0)
    return maskFromPicture(ctx.getImageData(0, 0, canvas.width, canvas.height), rule, noAlpha)
  } finally {
    URL.revokeObjectURL(objectUrl)
  }
}
