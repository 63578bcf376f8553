"""Watch set, folder scan, reconcile planning, the reconciler and the watcher (design §11)."""

from cloacinactl.services.reconcile.interfaces import (
    IdentityLike,
    PackageHost,
    PackageLike,
    ScheduleRegistry,
)
from cloacinactl.services.reconcile.plan import (
    BrokenState,
    LoadedState,
    ReconcilePlan,
    orphans,
    plan_reconcile,
)
from cloacinactl.services.reconcile.reconciler import PassReport, Reconciler, ReconcilerStatus
from cloacinactl.services.reconcile.scan import (
    FileSig,
    Fingerprint,
    ScanResult,
    fingerprint,
    stat_archives,
)
from cloacinactl.services.reconcile.service import ReconcileService
from cloacinactl.services.reconcile.watcher import PackageWatcher
from cloacinactl.services.reconcile.watchset import diff_watch_dirs, merge_watch_dirs, normalise_dir

__all__ = [
    "BrokenState",
    "FileSig",
    "Fingerprint",
    "IdentityLike",
    "LoadedState",
    "PackageHost",
    "PackageLike",
    "PackageWatcher",
    "PassReport",
    "ReconcilePlan",
    "ReconcileService",
    "Reconciler",
    "ReconcilerStatus",
    "ScanResult",
    "ScheduleRegistry",
    "diff_watch_dirs",
    "fingerprint",
    "merge_watch_dirs",
    "normalise_dir",
    "orphans",
    "plan_reconcile",
    "stat_archives",
]
