"""`scripts/architecture_figures.py` (the before/after figures of a refactor) counts what it says,
on a small source tree made here."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "architecture_figures.py"

FILES = {
    "ais/__init__.py": "",
    "ais/db/__init__.py": "",
    "ais/db/unit_of_work.py": "async def commit(session):\n    await session.commit()\n    await session.rollback()\n",
    "ais/bookings/__init__.py": "",
    "ais/bookings/service.py": "from ais.flights import repository\n\n\ndef f():\n    from ais.ledger import service\n",
    "ais/bookings/routes.py": "from ais.payments import cancellation\n",
    "ais/payments/__init__.py": "",
    "ais/payments/settlement.py": "from ais.bookings import service\n" + "x = 1\n" * 30,
}


def test_the_figures_of_a_known_tree(tmp_path: Path) -> None:
    for name, text in FILES.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)

    shown = subprocess.run([sys.executable, str(SCRIPT), str(tmp_path)], capture_output=True, text=True,
                           check=True).stdout

    assert "## commit()/rollback() calls: 2 in 1 modules" in shown
    assert "- ais.db.unit_of_work: 2" in shown
    # bookings/routes.py → payments is an edge file's import; the other two are the domains'.
    assert "## cross-domain imports: 4 module pairs; 3 outside the edge files" in shown
    assert "- bookings → flights: 1" in shown and "- payments → bookings: 1" in shown
    assert "Domains importing each other (outside the edge files): none" in shown
    assert "## function-level `ais` imports: 1" in shown and "- ais.bookings.service:5 ais.ledger" in shown
    assert shown.index("- ais/payments/settlement.py: 31") < shown.index("- ais/db/unit_of_work.py: 3")
