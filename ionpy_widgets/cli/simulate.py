"""``ionpy simulate <family> (--serial [--link PATH] | --tcp 127.0.0.x:PORT)``: serve a behaving
simulator on a real pseudo-terminal or a loopback socket until SIGINT/SIGTERM. With ``--json`` the
first stdout line is one JSON object saying where it listens, flushed at once, so scripts can wait
for it instead of sleeping. Simulators only ever listen on 127.0.0.0/8."""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import sys
from typing import Any

from .common import EXIT_OK, CliError, emit_json, wait_for_stop


def parse_loopback(text: str) -> tuple[str, int]:
    """``"127.0.0.x:PORT"`` (or ``localhost:PORT``) -> (host, port); anything else is refused."""
    host, sep, port_text = text.rpartition(":")
    if not sep or not host or not port_text.isdigit() or int(port_text) > 65535:
        raise CliError(f"--tcp expects HOST:PORT, got {text!r}", hint="Use e.g. --tcp 127.0.0.1:5025 "
                       "(port 0 picks a free port and prints it).")
    if host == "localhost":
        host = "127.0.0.1"
    try:
        addr = ipaddress.ip_address(host)
    except ValueError:
        raise CliError(f"--tcp host {host!r} is not an IP address", hint="Simulators listen on "
                       "127.0.0.0/8 only: use e.g. --tcp 127.0.0.1:5025.") from None
    if addr not in ipaddress.ip_network("127.0.0.0/8"):
        raise CliError(f"refusing to serve a simulator on {host}: only loopback addresses (127.0.0.0/8) are "
                       "allowed", hint="Use e.g. --tcp 127.0.0.1:5025; a simulator must never be reachable "
                       "from the network.", host=host)
    return host, int(port_text)


def _sim_options(args: argparse.Namespace) -> dict[str, Any]:
    from ..instruments.catalog import simulator_options

    options: dict[str, Any] = {}
    if args.model is not None:
        options["model"] = args.model
    if args.load_ohms is not None:
        options["load_ohms"] = args.load_ohms
    if args.baud_emulate and "baudrate" in (simulator_options(args.family) or ()):
        options["baudrate"] = args.baud_emulate  # the simulator's own t3.5 follows the emulated rate
    return options


def _sim_model_name(sim: Any, family: str) -> str:
    model = getattr(sim, "model", None)
    name = getattr(model, "name", model)
    return str(name) if name else family.upper()


def _simulate(args: argparse.Namespace) -> int:
    from ..instruments.catalog import make_simulator

    tcp = parse_loopback(args.tcp) if args.tcp else None
    if args.baud_emulate is not None and args.baud_emulate <= 0:
        raise CliError(f"--baud-emulate must be a positive baud rate, got {args.baud_emulate}",
                       hint="Use e.g. --baud-emulate 9600, or leave it out for no wire-time emulation.")
    try:
        sim = make_simulator(args.family, **_sim_options(args))
    except TypeError as exc:
        raise CliError(str(exc), hint=f"Leave that flag out for {args.family}.") from None
    if getattr(sim, "hid_only", False):
        raise CliError(f"the {args.family} simulator is a USB HID device: it cannot be served on a pty or a socket",
                       hint="Use it in-process: transport `virtual` with `simulator: " + args.family.lower() + "`, or "
                            "ionpy_widgets.testing.ut61e_hid.SimulatedUt61eHid for the real HID transport.")
    return asyncio.run(_serve(sim, args, tcp))


async def _start_server(sim: Any, args: argparse.Namespace, tcp: tuple[str, int] | None) -> Any:
    from ..instruments.simhost import PtyServer, TcpServer

    if tcp is not None:
        host, port = tcp
        try:
            return await TcpServer(sim, host, port, baud=args.baud_emulate).start()
        except OSError as exc:
            raise CliError(f"cannot listen on {host}:{port}: {exc.strerror or exc}", host=host, port=port,
                           hint="Pick another port (port 0 picks a free one) or stop whatever uses it.") from None
    try:
        return await PtyServer(sim, link_path=args.link, baud=args.baud_emulate).start()
    except OSError as exc:
        raise CliError(f"cannot create the pseudo-terminal or link {args.link}: {exc.strerror or exc}",
                       hint="--link needs a writable directory that exists, e.g. --link /tmp/ttyDPS.") from None


async def _serve(sim: Any, args: argparse.Namespace, tcp: tuple[str, int] | None) -> int:
    server = await _start_server(sim, args, tcp)
    family = args.family.lower()
    name = _sim_model_name(sim, family)
    try:
        info: dict[str, Any] = {"family": family, "model": name, "transport": "tcp" if tcp else "serial"}
        if tcp is not None:
            info.update(host=server.host, port=server.port)
            where = f"{server.host}:{server.port}"
        else:
            info.update(path=server.path, tty=server.tty_path)
            where = server.path if server.path == server.tty_path else f"{server.path} -> {server.tty_path}"
        info["baud_emulate"] = args.baud_emulate
        slave = getattr(sim, "slave_id", None)
        if slave is not None:
            info["slave"] = slave
        detail = []
        if tcp is None:
            baud = args.baud_emulate or getattr(sim, "baudrate", None) or 9600
            detail.append(f"{baud} 8N1" + (", wire time emulated" if args.baud_emulate else ""))
        elif args.baud_emulate:
            detail.append(f"{args.baud_emulate} baud wire time emulated")
        if slave is not None:
            detail.append(f"slave {slave}")
        human = f"{name} simulator on {where}" + (f" ({', '.join(detail)})" if detail else "") \
            + " — Ctrl+C to stop"
        if args.json:
            emit_json(info)
            print(human, file=sys.stderr, flush=True)
        else:
            print(human, flush=True)
        why = await wait_for_stop(None)
        if not args.json:
            print(f"{why}: simulator stopped after {sim.requests} request(s)", flush=True)
    finally:
        await server.close()
    return EXIT_OK





def add_parser(sub: Any) -> None:
    sim = sub.add_parser("simulate", help="serve a simulated instrument on a pty or a loopback socket")
    sim.add_argument("family", help="simulator name, e.g. dps5005 or scpi_psu (see `ionpy info`)")
    where = sim.add_mutually_exclusive_group(required=True)
    where.add_argument("--serial", action="store_true", help="serve on a new pseudo-terminal")
    where.add_argument("--tcp", metavar="127.0.0.x:PORT", help="serve on a loopback TCP address (port 0: any)")
    sim.add_argument("--link", metavar="PATH", help="with --serial: also create a stable symlink to the pty")
    sim.add_argument("--model", help="instrument model, e.g. DPS5015")
    sim.add_argument("--baud-emulate", type=int, metavar="BAUD", help="hold replies back by their wire time")
    sim.add_argument("--load-ohms", type=float, metavar="OHMS", help="resistive load on the output")
    sim.add_argument("--json", action="store_true", help="first stdout line: where the simulator listens, as JSON")
    sim.set_defaults(handler=_simulate)
