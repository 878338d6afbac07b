//! Places: stops that a person would call one place (the same spot under several ids, or
//! the stops of an interchange with one name), as GTFS parent stations and map markers.

use super::Stop;
use super::geo::{LatLon, haversine_m};

/// Stops closer than this are one place whatever their names ("Sol", "Puerta del Sol").
const SAME_SPOT_M: f64 = 30.0;
/// Stops with the same name closer than this are one interchange (Plaza de Castilla).
const SAME_NAME_M: f64 = 200.0;

#[derive(Debug, Clone, PartialEq)]
pub struct Place {
    /// A stop on its own is its own place, with its id; a place of several stops is
    /// `STATION_` and its first stop's id (a GTFS parent station).
    pub id: String,
    /// The name most of its stops carry (the first in file order on a tie).
    pub name: String,
    /// The mean of its stops' positions.
    pub position: LatLon,
    /// Indices into [`Network::stops`], ascending.
    pub stops: Vec<usize>,
}

/// Every place of `stops` in the order of its first stop; a stop on its own is a place of
/// one. (Pairs of stops are compared: networks have hundreds of stops, not millions.)
pub(super) fn group(stops: &[Stop]) -> Vec<Place> {
    let n = stops.len();
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
            let (sa, sb) = (&stops[a], &stops[b]);
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
        .map(|members| place(stops, members))
        .collect()
}

/// The place of stops `members` (indices into `stops`, ascending).
fn place(stops: &[Stop], members: Vec<usize>) -> Place {
    let named = |name: &str| members.iter().filter(|&&s| stops[s].name == name).count();
    let mut name = stops[members[0]].name.as_str();
    for &s in &members {
        if named(&stops[s].name) > named(name) {
            name = &stops[s].name;
        }
    }
    let k = members.len() as f64;
    let mean = |f: fn(&Stop) -> f64| members.iter().map(|&s| f(&stops[s])).sum::<f64>() / k;
    let first = stops[members[0]].id.as_str();
    Place {
        id: if members.len() > 1 {
            format!("STATION_{first}")
        } else {
            first.to_string()
        },
        name: name.to_string(),
        position: LatLon {
            lat: mean(|s| s.position.lat),
            lon: mean(|s| s.position.lon),
        },
        stops: members,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::network::Network;

    fn place_of<'a>(places: &'a [Place], net: &Network, id: &str) -> &'a Place {
        &places[net.place_of(net.stop_index(id).unwrap())]
    }

    #[test]
    fn the_default_network_s_interchanges_are_places() {
        let net = Network::default_network();
        let places = net.places();
        let ids = |p: &Place| -> Vec<&str> {
            p.stops.iter().map(|&s| net.stops[s].id.as_str()).collect()
        };
        let sol = place_of(places, &net, "S106");
        assert_eq!(
            (sol.id.as_str(), sol.name.as_str()),
            ("STATION_S106", "Sol")
        );
        assert_eq!(ids(sol), ["S106", "S204", "S405", "S705"]);
        assert_eq!(
            ids(place_of(places, &net, "S001")),
            ["S001", "S306", "S505"]
        );
        // Cibeles and Sevilla are 119 m apart under different names: two places.
        assert_ne!(
            place_of(places, &net, "S005"),
            place_of(places, &net, "S203")
        );
        // Every stop is in exactly one place.
        let mut all: Vec<usize> = places.iter().flat_map(|p| p.stops.clone()).collect();
        all.sort();
        assert_eq!(all, (0..net.stops.len()).collect::<Vec<_>>());
    }
}
