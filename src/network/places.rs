//! Places: stops that a person would call one place (the same spot under several ids, or
//! the stops of an interchange with one name), as GTFS parent stations and map markers.

use super::Network;
use super::geo::{LatLon, haversine_m};

/// Stops closer than this are one place whatever their names ("Sol", "Puerta del Sol").
const SAME_SPOT_M: f64 = 30.0;
/// Stops with the same name closer than this are one interchange (Plaza de Castilla).
const SAME_NAME_M: f64 = 200.0;

#[derive(Debug, Clone, PartialEq)]
pub struct Place {
    /// The name most of its stops carry (the first in file order on a tie).
    pub name: String,
    /// The mean of its stops' positions.
    pub position: LatLon,
    /// Indices into [`Network::stops`], ascending.
    pub stops: Vec<usize>,
}

impl Network {
    /// Every place of the network in the order of its first stop; a stop on its own is a
    /// place of one.
    pub fn places(&self) -> Vec<Place> {
        let n = self.stops.len();
        // Union-find over the pairs that are one place.
        let mut parent: Vec<usize> = (0..n).collect();
        fn root(parent: &mut [usize], mut i: usize) -> usize {
            while parent[i] != i {
                parent[i] = parent[parent[i]];
                i = parent[i];
            }
            i
        }
        for a in 0..n {
            for b in a + 1..n {
                let (sa, sb) = (&self.stops[a], &self.stops[b]);
                let d = haversine_m(sa.position, sb.position);
                if d <= SAME_SPOT_M || (d <= SAME_NAME_M && sa.name == sb.name) {
                    let (ra, rb) = (root(&mut parent, a), root(&mut parent, b));
                    parent[ra.max(rb)] = ra.min(rb);
                }
            }
        }
        let mut groups: Vec<Vec<usize>> = Vec::new();
        let mut group_of = vec![usize::MAX; n];
        for i in 0..n {
            let r = root(&mut parent, i);
            if group_of[r] == usize::MAX {
                group_of[r] = groups.len();
                groups.push(Vec::new());
            }
            groups[group_of[r]].push(i);
        }
        groups
            .into_iter()
            .map(|stops| {
                let count = |name: &str| {
                    stops
                        .iter()
                        .filter(|&&s| self.stops[s].name == name)
                        .count()
                };
                let name = stops
                    .iter()
                    .map(|&s| self.stops[s].name.as_str())
                    .fold("", |best, name| {
                        if best.is_empty() || count(name) > count(best) {
                            name
                        } else {
                            best
                        }
                    })
                    .to_string();
                let k = stops.len() as f64;
                let position = LatLon {
                    lat: stops
                        .iter()
                        .map(|&s| self.stops[s].position.lat)
                        .sum::<f64>()
                        / k,
                    lon: stops
                        .iter()
                        .map(|&s| self.stops[s].position.lon)
                        .sum::<f64>()
                        / k,
                };
                Place {
                    name,
                    position,
                    stops,
                }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn place_of<'a>(places: &'a [Place], net: &Network, id: &str) -> &'a Place {
        let i = net.stop_index(id).unwrap();
        places.iter().find(|p| p.stops.contains(&i)).unwrap()
    }

    #[test]
    fn the_default_network_s_interchanges_are_places() {
        let net = Network::default_network();
        let places = net.places();
        let ids = |p: &Place| -> Vec<&str> {
            p.stops.iter().map(|&s| net.stops[s].id.as_str()).collect()
        };
        let sol = place_of(&places, &net, "S106");
        assert_eq!(sol.name, "Sol");
        assert_eq!(ids(sol), ["S106", "S204", "S405", "S705"]);
        assert_eq!(
            ids(place_of(&places, &net, "S001")),
            ["S001", "S306", "S505"]
        );
        // Cibeles and Sevilla are 119 m apart under different names: two places.
        assert_ne!(
            place_of(&places, &net, "S005"),
            place_of(&places, &net, "S203")
        );
        // Every stop is in exactly one place.
        let mut all: Vec<usize> = places.iter().flat_map(|p| p.stops.clone()).collect();
        all.sort();
        assert_eq!(all, (0..net.stops.len()).collect::<Vec<_>>());
    }
}
