"""Inventory: locations, location groups, inventory records and their imports,
availability, and reservations (hold, transfer, fulfil, release, expire) that never
oversell.

This is the area's face: other areas, the API, the CLI and the worker import only these
names.
"""

from openoms.services.inventory.batch_reserve import (
    AnswerTaken,
    ReserveRequest,
    StoredAnswer,
)
from openoms.services.inventory.batching import (
    BatcherClosed,
    ReservationBatcher,
    ReservationBatchFailed,
)
from openoms.services.inventory.imports import (
    MAX_REPORTED_ERRORS,
    ImportMode,
    InventoryLine,
    apply_inventory_import,
    invalid_import,
    lines_listed_twice,
)
from openoms.services.inventory.location_data import (
    Address,
    LocationData,
    LocationGroupNotFound,
    LocationGroupUnknown,
    LocationNotFound,
    LocationUnknown,
    ShippingCost,
    check_ref,
    validate_location,
)
from openoms.services.inventory.location_groups import (
    get_group,
    list_groups,
    member_refs,
    upsert_group,
)
from openoms.services.inventory.locations import (
    apply_changes,
    get_location,
    list_locations,
    location_group_refs,
    upsert_location,
)
from openoms.services.inventory.reservation_common import (
    Available,
    ReleaseExceedsReserved,
    ReservationInvalid,
)
from openoms.services.inventory.reservation_views import (
    group_id_by_ref,
    location_id_by_ref,
    location_ids_by_ref,
    reservation_body,
    reservation_view,
)
from openoms.services.inventory.reservations import (
    expire_due,
    fulfill,
    get_reservation,
    release,
    release_held,
    transfer,
    transfer_held,
)
from openoms.services.inventory.reserving import (
    ReserveResult,
    reserve,
)
from openoms.services.inventory.stock import (
    AvailabilityAnswer,
    answer_availability,
    list_inventory_records,
)

__all__ = [
    "MAX_REPORTED_ERRORS",
    "Address",
    "AnswerTaken",
    "AvailabilityAnswer",
    "Available",
    "BatcherClosed",
    "ImportMode",
    "InventoryLine",
    "LocationData",
    "LocationGroupNotFound",
    "LocationGroupUnknown",
    "LocationNotFound",
    "LocationUnknown",
    "ReleaseExceedsReserved",
    "ReservationBatchFailed",
    "ReservationBatcher",
    "ReservationInvalid",
    "ReserveRequest",
    "ReserveResult",
    "ShippingCost",
    "StoredAnswer",
    "answer_availability",
    "apply_changes",
    "apply_inventory_import",
    "check_ref",
    "expire_due",
    "fulfill",
    "get_group",
    "get_location",
    "get_reservation",
    "group_id_by_ref",
    "invalid_import",
    "lines_listed_twice",
    "list_groups",
    "list_inventory_records",
    "list_locations",
    "location_group_refs",
    "location_id_by_ref",
    "location_ids_by_ref",
    "member_refs",
    "release",
    "release_held",
    "reservation_body",
    "reservation_view",
    "reserve",
    "transfer",
    "transfer_held",
    "upsert_group",
    "upsert_location",
    "validate_location",
]
