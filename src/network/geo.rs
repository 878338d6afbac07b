//! Great-circle distances and polylines measured along their length.

use serde::{Deserialize, Serialize};

/// Mean Earth radius used by the Haversine formula, in metres.
pub const EARTH_RADIUS_M: f64 = 6_371_000.0;

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct LatLon {
    pub lat: f64,
    pub lon: f64,
}

impl LatLon {
    pub const fn new(lat: f64, lon: f64) -> Self {
        Self { lat, lon }
    }
}

/// Haversine distance in metres.
pub fn haversine_m(a: LatLon, b: LatLon) -> f64 {
    let (p1, p2) = (a.lat.to_radians(), b.lat.to_radians());
    let dp = p2 - p1;
    let dl = (b.lon - a.lon).to_radians();
    let h = (dp / 2.0).sin().powi(2) + p1.cos() * p2.cos() * (dl / 2.0).sin().powi(2);
    2.0 * EARTH_RADIUS_M * h.sqrt().asin()
}

/// A polyline with the cumulative distance at each vertex, so that a point at a given
/// distance along it is a binary search plus one interpolation.
#[derive(Debug, Clone)]
pub struct Polyline {
    points: Vec<LatLon>,
    cumulative_m: Vec<f64>,
}

impl Polyline {
    /// Needs at least two points (the loader guarantees it).
    pub fn new(points: Vec<LatLon>) -> Self {
        let mut cumulative_m = Vec::with_capacity(points.len());
        let mut total = 0.0;
        for (i, p) in points.iter().enumerate() {
            if i > 0 {
                total += haversine_m(points[i - 1], *p);
            }
            cumulative_m.push(total);
        }
        Self {
            points,
            cumulative_m,
        }
    }

    pub fn points(&self) -> &[LatLon] {
        &self.points
    }

    pub fn length_m(&self) -> f64 {
        *self.cumulative_m.last().unwrap_or(&0.0)
    }

    /// Distance along the line of vertex `i`.
    pub fn vertex_distance_m(&self, i: usize) -> f64 {
        self.cumulative_m[i]
    }

    /// The point `d` metres from the start (clamped to the ends).
    pub fn point_at(&self, d: f64) -> LatLon {
        let d = d.clamp(0.0, self.length_m());
        // First vertex strictly beyond d; the segment is (i-1, i).
        let i = self
            .cumulative_m
            .partition_point(|&c| c <= d)
            .clamp(1, self.points.len() - 1);
        let (a, b) = (self.points[i - 1], self.points[i]);
        let seg = self.cumulative_m[i] - self.cumulative_m[i - 1];
        let f = if seg > 0.0 {
            (d - self.cumulative_m[i - 1]) / seg
        } else {
            0.0
        };
        LatLon::new(a.lat + (b.lat - a.lat) * f, a.lon + (b.lon - a.lon) * f)
    }

    /// Projects `p` onto the line, looking only at segments that end at or after `from_m`
    /// (so stops are placed in order even where a shape doubles back). Returns the distance
    /// along the line and how far `p` lies from it, both in metres.
    pub fn project(&self, p: LatLon, from_m: f64) -> (f64, f64) {
        let mut best = (from_m, f64::INFINITY);
        for i in 1..self.points.len() {
            if self.cumulative_m[i] < from_m {
                continue;
            }
            let (a, b) = (self.points[i - 1], self.points[i]);
            // Local equirectangular frame around `a`: exact enough for city-sized segments.
            let k = a.lat.to_radians().cos();
            let (bx, by) = ((b.lon - a.lon) * k, b.lat - a.lat);
            let (px, py) = ((p.lon - a.lon) * k, p.lat - a.lat);
            let len2 = bx * bx + by * by;
            let mut f = if len2 > 0.0 {
                ((px * bx + py * by) / len2).clamp(0.0, 1.0)
            } else {
                0.0
            };
            let seg_start = self.cumulative_m[i - 1];
            let seg_len = self.cumulative_m[i] - seg_start;
            if seg_start + f * seg_len < from_m && seg_len > 0.0 {
                f = (from_m - seg_start) / seg_len;
            }
            let q = LatLon::new(a.lat + (b.lat - a.lat) * f, a.lon + (b.lon - a.lon) * f);
            let off = haversine_m(p, q);
            if off < best.1 {
                best = (seg_start + f * seg_len, off);
            }
        }
        best
    }

    /// Shortest distance in metres from `p` to the line.
    pub fn distance_to_m(&self, p: LatLon) -> f64 {
        self.project(p, 0.0).1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn haversine_known_distance() {
        // Puerta del Sol to Plaza de Castilla is about 5.4 km.
        let d = haversine_m(LatLon::new(40.4169, -3.7033), LatLon::new(40.4657, -3.6886));
        assert!((d - 5_573.0).abs() < 60.0, "{d}");
    }

    #[test]
    fn point_at_and_project_agree() {
        let line = Polyline::new(vec![
            LatLon::new(40.40, -3.70),
            LatLon::new(40.41, -3.70),
            LatLon::new(40.41, -3.68),
        ]);
        for i in 0..=20 {
            let d = line.length_m() * i as f64 / 20.0;
            let p = line.point_at(d);
            let (back, off) = line.project(p, 0.0);
            assert!((back - d).abs() < 0.5, "{back} vs {d}");
            assert!(off < 0.5);
        }
        assert_eq!(line.point_at(-5.0), line.points()[0]);
        assert_eq!(line.point_at(1e9), line.points()[2]);
    }
}
