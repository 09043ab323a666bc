// The region drag's move, computed in the browser so that the editor can show it before the prompt is
// queued. Pure functions, no DOM: the same field and sampling as the node's `warp_region`
// (sampling/warp.py):
//   - d(q) = q − f(q), f the rigid moving-least-squares map from the targets to the sources (Schaefer,
//     McPhail and Warren 2006; weights 1/|T − q|²): one pair a translation, at a target exactly its
//     source (the mean of the sources of the pairs whose target it is), two pairs a rigid turn or a
//     stretch that keeps every part as wide as it was;
//   - backward mapping: pixel q of the result shows the picture at q − d(q), read bilinearly (0 outside
//     the picture), where the region read bilinearly at q − d(q) is above 0.5 ("landed"); elsewhere the
//     picture as it is; region pixels that nothing landed on are the hole.
// The node works at the latent's resolution with the pairs mapped to latent pixels; the preview works
// at the picture's, with the pairs in image pixels: the same when a latent pixel is an image pixel
// (pixel-space models), the shape of the move otherwise.

/** Identical pairs count once, as on the server (adapter/points.py parse_points). */
function uniquePairs(pairs) {
  const seen = new Set()
  return pairs.filter((p) => {
    const key = `${p.source[0]},${p.source[1]},${p.target[0]},${p.target[1]}`
    if (seen.has(key)) return false
    seen.add(key)
    return true
  })
}

/**
 * The backward displacement field, two Float32Arrays (dx, dy) of width × height (see the top): rigid
 * moving least squares from the targets to the sources, line for line as `displacement` in
 * sampling/warp.py. Float64 arithmetic, stored as float32 as the server's field is.
 */
export function displacement(pairs, width, height) {
  const n = width * height
  const dx = new Float32Array(n)
  const dy = new Float32Array(n)
  const list = uniquePairs(pairs)
  const count = list.length
  if (!count) return { dx, dy }
  const sx = Float64Array.from(list, (p) => p.source[0])
  const sy = Float64Array.from(list, (p) => p.source[1])
  const tx = Float64Array.from(list, (p) => p.target[0])
  const ty = Float64Array.from(list, (p) => p.target[1])
  const moves = new Set(list.map((p) => `${p.target[0] - p.source[0]},${p.target[1] - p.source[1]}`))
  if (moves.size === 1) { // a translation, exactly
    dx.fill(tx[0] - sx[0])
    dy.fill(ty[0] - sy[0])
    return { dx, dy }
  }
  const w = new Float64Array(count)
  for (let y = 0, i = 0; y < height; y++) {
    for (let x = 0; x < width; x++, i++) {
      let hits = 0
      let hx = 0
      let hy = 0
      let total = 0
      for (let k = 0; k < count; k++) {
        const ex = x - tx[k]
        const ey = y - ty[k]
        const d2 = ex * ex + ey * ey
        if (d2 < 1e-12) {
          hits++
          hx += sx[k]
          hy += sy[k]
        }
        w[k] = 1 / Math.max(d2, 1e-12)
        total += w[k]
      }
      let mapX
      let mapY
      if (hits) { // at a target: its source (the mean where several pairs share it)
        mapX = hx / hits
        mapY = hy / hits
      } else {
        let px = 0
        let py = 0
        let qx = 0
        let qy = 0
        for (let k = 0; k < count; k++) {
          px += w[k] * tx[k]
          py += w[k] * ty[k]
          qx += w[k] * sx[k]
          qy += w[k] * sy[k]
        }
        px /= total
        py /= total
        qx /= total
        qy /= total
        const rx = x - px
        const ry = y - py
        let fx = 0
        let fy = 0
        for (let k = 0; k < count; k++) {
          const phx = tx[k] - px
          const phy = ty[k] - py
          const qhx = sx[k] - qx
          const qhy = sy[k] - qy
          const c = phx * rx + phy * ry
          const s = phx * ry - phy * rx
          fx += w[k] * (qhx * c - qhy * s)
          fy += w[k] * (qhx * s + qhy * c)
        }
        const norm = Math.sqrt(fx * fx + fy * fy)
        if (norm < 1e-12) { // at the weighted centre: no direction, and none needed
          mapX = rx + qx
          mapY = ry + qy
        } else {
          const scale = Math.sqrt(rx * rx + ry * ry) / norm
          mapX = scale * fx + qx
          mapY = scale * fy + qy
        }
      }
      dx[i] = x - mapX
      dy[i] = y - mapY
    }
  }
  return { dx, dy }
}

/**
 * Move the region of `picture` along the pairs' field.
 * @param {{width: number, height: number, data: ArrayLike<number>}} picture RGBA, row by row (ImageData)
 * @param {Uint8Array} region width × height, 1 = moves
 * @param {Array<{source: number[], target: number[]}>} pairs in image pixels
 * @param {{out?: Uint8ClampedArray, holeColor?: (x: number, y: number, rgba: number[]) => number[]|null}} [options]
 *   out: where to write the RGBA result (a new array otherwise)
 * @returns {{data: Uint8ClampedArray, landed: Uint8Array, hole: Uint8Array}} the moved picture (RGBA, the
 *   hole left as the picture is), where the region landed, and the hole
 */
export function warpRegion(picture, region, pairs, options = {}) {
  const { width, height, data: src } = picture
  const n = width * height
  const out = options.out ?? new Uint8ClampedArray(n * 4)
  const landed = new Uint8Array(n)
  const hole = new Uint8Array(n)
  if (out !== src) out.set(src)
  const { dx, dy } = displacement(pairs, width, height)
  const inside = (ix, iy) => ix >= 0 && ix < width && iy >= 0 && iy < height
  for (let y = 0, i = 0; y < height; y++) {
    for (let x = 0; x < width; x++, i++) {
      // the server computes q − d(q) in the picture's dtype; float32 here too (Math.fround)
      const sx = Math.fround(x - dx[i])
      const sy = Math.fround(y - dy[i])
      const x0 = Math.floor(sx)
      const y0 = Math.floor(sy)
      const fx = sx - x0
      const fy = sy - y0
      const w00 = (1 - fx) * (1 - fy)
      const w10 = fx * (1 - fy)
      const w01 = (1 - fx) * fy
      const w11 = fx * fy
      const in00 = w00 > 0 && inside(x0, y0)
      const in10 = w10 > 0 && inside(x0 + 1, y0)
      const in01 = w01 > 0 && inside(x0, y0 + 1)
      const in11 = w11 > 0 && inside(x0 + 1, y0 + 1)
      const j = y0 * width + x0
      let r = 0
      if (in00) r += w00 * region[j]
      if (in10) r += w10 * region[j + 1]
      if (in01) r += w01 * region[j + width]
      if (in11) r += w11 * region[j + width + 1]
      if (r > 0.5) {
        landed[i] = 1
        for (let c = 0; c < 3; c++) {
          let v = 0
          if (in00) v += w00 * src[j * 4 + c]
          if (in10) v += w10 * src[(j + 1) * 4 + c]
          if (in01) v += w01 * src[(j + width) * 4 + c]
          if (in11) v += w11 * src[(j + width + 1) * 4 + c]
          out[i * 4 + c] = v
        }
        out[i * 4 + 3] = 255
      } else if (region[i]) {
        hole[i] = 1
      }
    }
  }
  return { data: out, landed, hole }
}

/**
 * The preview as drawn: the moved picture with the hole hatched (light diagonal stripes over the
 * darkened picture), written into `out` (RGBA).
 */
export function drawPreview(picture, region, pairs, out) {
  const result = warpRegion(picture, region, pairs, { out })
  const { width, height } = picture
  const data = result.data
  for (let y = 0, i = 0; y < height; y++) {
    for (let x = 0; x < width; x++, i++) {
      if (!result.hole[i]) continue
      const stripe = ((x + y) & 7) < 3
      for (let c = 0; c < 3; c++) data[i * 4 + c] = stripe ? 235 : data[i * 4 + c] * 0.3
    }
  }
  return result
}
