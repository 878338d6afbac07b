"""Reads madbus's GTFS and GTFS-Realtime feeds with the tools their users have, for the Rust
integration tests.

Reads a plan (JSON) on stdin: {"base_url": ..., "headers": {...}, "work_dir": ...}, and prints
one JSON report on stdout:
- "validator": the notices of the GTFS validator (gtfs-validator from PyPI, MobilityData's
  rule set) on /gtfs/static.zip, as [{"code", "severity", "total"}];
- "partridge": the row counts partridge loads; "stations": each parent station's stops;
- per realtime feed: what gtfs-realtime-bindings parsed, ids missing from the static feed,
  whether ?format=json parses (google.protobuf.json_format) to the same message, and the
  status of a request with the ETag (304 expected) and with If-Modified-Since (each taken
  while the feed did not change: null when it changed every time).
"""

import csv
import datetime
import io
import json
import os
import subprocess
import sys
import urllib.request
import zipfile
import zoneinfo

import partridge
from google.protobuf import json_format
from google.transit import gtfs_realtime_pb2


def get(url, headers, extra=None):
    req = urllib.request.Request(url, headers={**headers, **(extra or {})})
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            return r.status, dict(r.headers), r.read()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read()


def main():
    plan = json.load(sys.stdin)
    base, headers, work = plan["base_url"], plan["headers"], plan["work_dir"]
    report = {}

    status, _, body = get(base + "/gtfs/static.zip", {})
    assert status == 200, f"static feed: HTTP {status}"
    zip_path = os.path.join(work, "gtfs.zip")
    with open(zip_path, "wb") as f:
        f.write(body)

    out = os.path.join(work, "validator")
    validator = os.path.join(os.path.dirname(sys.executable), "gtfs-validator")
    subprocess.run([validator, "-i", zip_path, "-o", out], check=True, capture_output=True)
    with open(os.path.join(out, "report.json")) as f:
        notices = json.load(f)["notices"]
    report["validator"] = [
        {"code": n["code"], "severity": n["severity"], "total": n["totalNotices"]} for n in notices
    ]

    feed = partridge.load_feed(zip_path)
    report["partridge"] = {
        "routes": len(feed.routes),
        "stops": len(feed.stops),
        "trips": len(feed.trips),
        "stop_times": len(feed.stop_times),
        "shapes": feed.shapes["shape_id"].nunique(),
        "service_dates": len(partridge.read_service_ids_by_date(zip_path)),
    }
    report["route_colors"] = dict(zip(feed.routes["route_id"], feed.routes["route_color"]))
    with zipfile.ZipFile(zip_path) as z, z.open("stops.txt") as f:
        rows = list(csv.DictReader(io.TextIOWrapper(f, "utf-8")))
    report["stations"] = {
        r["stop_id"]: sorted(c["stop_id"] for c in rows if c["parent_station"] == r["stop_id"])
        for r in rows
        if r["location_type"] == "1"
    }
    trip_ids = set(feed.trips["trip_id"])
    route_ids = set(feed.routes["route_id"])
    stop_ids = set(feed.stops["stop_id"])
    directions = dict(zip(feed.trips["trip_id"], feed.trips["direction_id"]))
    # Scheduled arrival (seconds of the service day) of each trip's stops, by sequence.
    scheduled = {
        (t, int(q)): a
        for t, q, a in zip(feed.stop_times["trip_id"], feed.stop_times["stop_sequence"], feed.stop_times["arrival_time"])
    }
    madrid = zoneinfo.ZoneInfo("Europe/Madrid")

    def service_epoch(date, secs):
        """GTFS time: noon of the service day minus 12 hours, plus secs."""
        d = datetime.datetime.strptime(date, "%Y%m%d")
        noon = datetime.datetime(d.year, d.month, d.day, 12, tzinfo=madrid)
        return noon.timestamp() - 12 * 3600 + secs

    delay_mismatches = []
    delays_checked = 0

    for name in ["vehicle-positions", "trip-updates", "alerts"]:
        url = f"{base}/gtfs-rt/{name}"
        status, head, body = get(url, headers)
        assert status == 200, f"{name}: HTTP {status} {body[:200]!r}"
        message = gtfs_realtime_pb2.FeedMessage()
        message.ParseFromString(body)
        missing = []
        entities = []
        for e in message.entity:
            if e.HasField("vehicle"):
                v = e.vehicle
                trip = v.trip
                entities.append(
                    {
                        "bus_id": v.vehicle.id,
                        "latitude": v.position.latitude,
                        "longitude": v.position.longitude,
                        "bearing": v.position.bearing,
                        "timestamp": v.timestamp,
                        "trip_id": trip.trip_id,
                        "direction_id": trip.direction_id,
                        "stop_id": v.stop_id,
                        "current_stop_sequence": v.current_stop_sequence,
                        "status": gtfs_realtime_pb2.VehiclePosition.VehicleStopStatus.Name(v.current_status),
                        "occupancy_status": gtfs_realtime_pb2.VehiclePosition.OccupancyStatus.Name(v.occupancy_status),
                        "occupancy_percentage": v.occupancy_percentage,
                    }
                )
                refs = [("trip_id", trip.trip_id), ("route_id", trip.route_id), ("stop_id", v.stop_id)]
                if trip.trip_id in directions and directions[trip.trip_id] != trip.direction_id:
                    missing.append(["direction_id", trip.trip_id])
            elif e.HasField("trip_update"):
                u = e.trip_update
                updates = [
                    {
                        "stop_id": s.stop_id,
                        "stop_sequence": s.stop_sequence,
                        "arrival": s.arrival.time,
                        "departure": s.departure.time if s.HasField("departure") else None,
                        "delay": s.arrival.delay,
                    }
                    for s in u.stop_time_update
                ]
                entities.append({"trip_id": u.trip.trip_id, "bus_id": u.vehicle.id, "updates": updates})
                # Predicted minus the static feed's scheduled time is the delay given.
                for s in u.stop_time_update:
                    secs = scheduled.get((u.trip.trip_id, s.stop_sequence))
                    if secs is None:
                        continue
                    expected = s.arrival.time - service_epoch(u.trip.start_date, secs)
                    delays_checked += 1
                    if abs(expected - s.arrival.delay) > 1:
                        delay_mismatches.append([u.trip.trip_id, s.stop_sequence, s.arrival.delay, expected])
                refs = [("trip_id", u.trip.trip_id), ("route_id", u.trip.route_id)]
                refs += [("stop_id", s.stop_id) for s in u.stop_time_update]
            else:
                refs = []
            known = {"trip_id": trip_ids, "route_id": route_ids, "stop_id": stop_ids}
            missing += [[kind, value] for kind, value in refs if value not in known[kind]]

        # A step between two requests changes the feed: retry until both ends agree.
        json_same = etag_status = since_status = None
        for _ in range(10):
            _, head1, first = get(url, headers)
            _, _, json_body = get(url + "?format=json", headers)
            etag = head1.get("ETag") or head1.get("etag")
            modified = head1.get("Last-Modified") or head1.get("last-modified")
            again, _, _ = get(url, headers, {"If-None-Match": etag})
            since, _, _ = get(url, headers, {"If-Modified-Since": modified})
            _, _, last = get(url, headers)
            if first == last:
                pb = gtfs_realtime_pb2.FeedMessage()
                pb.ParseFromString(first)
                json_same = json_format.Parse(json_body, gtfs_realtime_pb2.FeedMessage()) == pb
                etag_status, since_status = again, since
                break
        report[name] = {
            "version": message.header.gtfs_realtime_version,
            "incrementality": gtfs_realtime_pb2.FeedHeader.Incrementality.Name(message.header.incrementality),
            "timestamp": message.header.timestamp,
            "entities": entities,
            "missing_from_static": missing,
            "delay_mismatches": delay_mismatches,
            "delays_checked": delays_checked,
            "json_same": json_same,
            "if_none_match_status": etag_status,
            "if_modified_since_status": since_status,
        }
    json.dump(report, sys.stdout)


if __name__ == "__main__":
    main()
