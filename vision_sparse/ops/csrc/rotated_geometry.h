// Rotated-box geometry shared by the compiled ops (box_iou_rotated and
// nms_rotated, CPU and CUDA kernels): plain VS_HOST_DEVICE inline code templated
// on the compute type T, usable from .cpp and .cu files.
//
// Box convention: (cx, cy, w, h, theta), theta in radians, rotation from +x
// toward +y; corners = centre + R(theta) @ (+-w/2, +-h/2).  Boxes with w <= 0 or
// h <= 0 are degenerate: zero area, IoU 0 with anything.
//
// Intersection area of two rectangles A and B:
//   1. work in B's frame (B axis-aligned, centred at the origin), which also
//      keeps coordinates small for far-from-origin boxes (precision);
//   2. exact separating-axis test on the 4 axes (bounding circles first):
//      disjoint -> 0; A inside B -> area(A); B inside A -> area(B);
//   3. otherwise clip A's 4 corners by B's 4 half-planes |x| <= w/2, |y| <= h/2
//      (Sutherland-Hodgman; a convex polygon of at most 8 vertices, already in
//      order, no sorting) and take its shoelace area.
#pragma once
#include <math.h>

#include "vs_common.h"

namespace vision_sparse {
namespace rotated {

VS_HOST_DEVICE inline float vs_cos(float x) { return cosf(x); }
VS_HOST_DEVICE inline double vs_cos(double x) { return cos(x); }
VS_HOST_DEVICE inline float vs_sin(float x) { return sinf(x); }
VS_HOST_DEVICE inline double vs_sin(double x) { return sin(x); }
VS_HOST_DEVICE inline float vs_sqrt(float x) { return sqrtf(x); }
VS_HOST_DEVICE inline double vs_sqrt(double x) { return sqrt(x); }
template <typename T>
VS_HOST_DEVICE inline T vs_abs(T x) { return x < T(0) ? -x : x; }
template <typename T>
VS_HOST_DEVICE inline T vs_min(T a, T b) { return a < b ? a : b; }
template <typename T>
VS_HOST_DEVICE inline T vs_max(T a, T b) { return a > b ? a : b; }

// IoU modes (the `mode` int of the ops).
constexpr int kModeIoU = 0;  // inter / union
constexpr int kModeIoF = 1;  // inter / area(box1)

// A rotated box prepared once for many pair tests (no trigonometry per pair).
// Plain aggregate: it may live in CUDA __shared__ memory.
template <typename T>
struct RotBox {
  T x, y;    // centre
  T hw, hh;  // half sizes
  T c, s;    // cos(theta), sin(theta)
  T r;       // bounding-circle radius
  T area;    // w * h, 0 when degenerate
  bool valid;
};

template <typename T, typename S>
VS_HOST_DEVICE inline RotBox<T> make_rot_box(const S* b) {
  RotBox<T> o;
  const T w = static_cast<T>(b[2]);
  const T h = static_cast<T>(b[3]);
  const T theta = static_cast<T>(b[4]);
  o.x = static_cast<T>(b[0]);
  o.y = static_cast<T>(b[1]);
  o.valid = (w > T(0)) && (h > T(0));  // also false for NaN sizes
  o.hw = o.valid ? T(0.5) * w : T(0);
  o.hh = o.valid ? T(0.5) * h : T(0);
  o.c = vs_cos(theta);
  o.s = vs_sin(theta);
  o.r = vs_sqrt(o.hw * o.hw + o.hh * o.hh);
  o.area = o.valid ? w * h : T(0);
  return o;
}

// Capacity of the clipping buffers.  A convex quadrilateral clipped by 4
// half-planes has at most 8 vertices; rounding in near-degenerate cases can add
// a few (never written past the capacity).
constexpr int kMaxClipVerts = 16;

// Keeps the part of the polygon (px, py)[0..n) where SIGN * coord <= bound,
// coord = x (AXIS 0) or y (AXIS 1).  Writes into (qx, qy); returns its size.
template <int AXIS, int SIGN, typename T>
VS_HOST_DEVICE inline int clip_polygon(const T* px, const T* py, int n, T* qx, T* qy,
                                       T bound) {
  if (n == 0) return 0;
  const T* pc = AXIS == 0 ? px : py;  // clipped coordinate
  const T* po = AXIS == 0 ? py : px;  // the other one
  T* qc = AXIS == 0 ? qx : qy;
  T* qo = AXIS == 0 ? qy : qx;
  const T line = SIGN > 0 ? bound : -bound;
  int m = 0;
  T ci = (SIGN > 0 ? pc[n - 1] : -pc[n - 1]) - bound;  // previous vertex
  int i = n - 1;
  for (int k = 0; k < n; ++k) {
    const T ck = (SIGN > 0 ? pc[k] : -pc[k]) - bound;
    if (((ci < T(0) && ck > T(0)) || (ci > T(0) && ck < T(0))) && m < kMaxClipVerts) {
      // edge i -> k crosses the line: the clipped coordinate is set exactly on
      // it, the other one interpolated
      const T t = ci / (ci - ck);
      qc[m] = line;
      qo[m] = po[i] + t * (po[k] - po[i]);
      ++m;
    }
    if (ck <= T(0) && m < kMaxClipVerts) {
      qc[m] = pc[k];
      qo[m] = po[k];
      ++m;
    }
    ci = ck;
    i = k;
  }
  return m;
}

// Area of the intersection of two valid rotated boxes.
template <typename T>
VS_HOST_DEVICE inline T rotated_intersection(const RotBox<T>& a, const RotBox<T>& b) {
  const T dx0 = a.x - b.x;
  const T dy0 = a.y - b.y;
  const T rr = a.r + b.r;
  if (dx0 * dx0 + dy0 * dy0 >= rr * rr) return T(0);  // bounding circles apart
  // A's centre and half-axes in B's frame.
  const T px = dx0 * b.c + dy0 * b.s;
  const T py = -dx0 * b.s + dy0 * b.c;
  const T cd = a.c * b.c + a.s * b.s;  // cos(ta - tb)
  const T sd = a.s * b.c - a.c * b.s;  // sin(ta - tb)
  const T ux = cd * a.hw, uy = sd * a.hw;    // A's half-width axis
  const T vx = -sd * a.hh, vy = cd * a.hh;   // A's half-height axis
  const T ex = vs_abs(ux) + vs_abs(vx);      // A's half extent along B's x
  const T ey = vs_abs(uy) + vs_abs(vy);      // ... along B's y
  const T apx = vs_abs(px), apy = vs_abs(py);
  if (apx >= b.hw + ex || apy >= b.hh + ey) return T(0);  // B's axes separate
  if (apx + ex <= b.hw && apy + ey <= b.hh) return a.area;  // A inside B
  // B's centre and half extents in A's frame.
  const T qx = -(px * cd + py * sd);
  const T qy = px * sd - py * cd;
  const T fx = vs_abs(cd) * b.hw + vs_abs(sd) * b.hh;
  const T fy = vs_abs(sd) * b.hw + vs_abs(cd) * b.hh;
  const T aqx = vs_abs(qx), aqy = vs_abs(qy);
  if (aqx >= a.hw + fx || aqy >= a.hh + fy) return T(0);  // A's axes separate
  if (aqx + fx <= a.hw && aqy + fy <= a.hh) return b.area;  // B inside A

  // Clip A (counter-clockwise corners) by the 4 half-planes of B.
  T x0[kMaxClipVerts], y0[kMaxClipVerts], x1[kMaxClipVerts], y1[kMaxClipVerts];
  x0[0] = px + ux + vx; y0[0] = py + uy + vy;
  x0[1] = px - ux + vx; y0[1] = py - uy + vy;
  x0[2] = px - ux - vx; y0[2] = py - uy - vy;
  x0[3] = px + ux - vx; y0[3] = py + uy - vy;
  int n = 4;
  n = clip_polygon<0, 1>(x0, y0, n, x1, y1, b.hw);
  n = clip_polygon<0, -1>(x1, y1, n, x0, y0, b.hw);
  n = clip_polygon<1, 1>(x0, y0, n, x1, y1, b.hh);
  n = clip_polygon<1, -1>(x1, y1, n, x0, y0, b.hh);
  if (n < 3) return T(0);
  // Shoelace, relative to the first vertex.
  T acc = T(0);
  const T ox = x0[0], oy = y0[0];
  for (int i = 1; i + 1 < n; ++i) {
    acc += (x0[i] - ox) * (y0[i + 1] - oy) - (y0[i] - oy) * (x0[i + 1] - ox);
  }
  T inter = T(0.5) * acc;
  inter = vs_max(inter, T(0));
  return vs_min(inter, vs_min(a.area, b.area));
}

// IoU (mode kModeIoU) or IoF (kModeIoF, inter / area(a)) of two prepared boxes.
template <typename T>
VS_HOST_DEVICE inline T rotated_iou(const RotBox<T>& a, const RotBox<T>& b, int mode,
                                    T eps) {
  if (!a.valid || !b.valid) return T(0);
  const T inter = rotated_intersection(a, b);
  if (inter <= T(0)) return T(0);
  const T denom = (mode == kModeIoF) ? a.area : a.area + b.area - inter;
  return inter / vs_max(denom, eps);
}

// Whether rotated_iou(a, b, kModeIoU, eps) > thr (NMS).  When thr >= 0 the
// polygon is skipped if IoU <= min(area) / max(area) (inter <= min(area),
// union >= max(area)) already gives IoU <= thr; the relative margin covers the
// rounding of the IoU, so the answer is the one of the full computation.
template <typename T>
VS_HOST_DEVICE inline bool rotated_iou_greater(const RotBox<T>& a, const RotBox<T>& b,
                                               T thr, T eps) {
  if (thr >= T(0)) {
    if (!a.valid || !b.valid) return false;
    const T lo = vs_min(a.area, b.area), hi = vs_max(a.area, b.area);
    if (lo * (T(1) + T(1e-5)) <= thr * hi) return false;
  }
  return rotated_iou(a, b, kModeIoU, eps) > thr;
}

}  // namespace rotated

}  // namespace vision_sparse
