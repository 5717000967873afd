// The native C++ engine API: one Engine per lcore running the stack's poll loop.
//
// Port mode: the stack owns a port queue (EthdevPort, possibly wrapped by
// FaultInjectingPort / PcapngCapturePort) and each iteration of poll_once() does
// rx_burst -> handler -> timers -> one tx_burst. EngineLauncher runs engines on EAL
// worker lcores.
//
// Embedding mode: a packet-processing application that already owns its ports runs
// the stack without handing it a port. It passes received frames (mbufs) into an
// engine, drains the frames the engine wants to send, and supplies the clock:
//
//   class AppClock : public shardtcp::Clock {            // or shardtcp::TscClock
//     shardtcp::Instant now() override { return shardtcp::Instant{app_time_ns()}; }
//   };
//   AppClock clock;
//   shardtcp::Engine engine(pool, handler, clock);        // no port
//   for (;;) {
//     rte_mbuf* rx[32];
//     uint16_t n = rte_eth_rx_burst(app_port, 0, rx, 32);
//     /* the app keeps the frames it handles itself and passes the stack's on: */
//     engine.inject(rx, n);                                // ownership moves to the stack
//     engine.poll_once();                                  // timers (retransmits, ARP, ...)
//     rte_mbuf* tx[64];
//     uint16_t m = engine.drain_tx(tx, 64);                // ownership moves to the app
//     uint16_t sent = rte_eth_tx_burst(app_port, 0, tx, m);
//     rte_pktmbuf_free_bulk(tx + sent, m - sent);
//   }
//
// inject() runs the handler at once, at clock.now(); frames the handler sends wait
// in the engine's TX buffer (EngineConfig::tx_buffer_size; beyond it they are freed
// and counted as tx_dropped) until drain_tx. One engine is single-threaded: call it
// from one thread only.
#pragma once

#include "common/counter_registry.h"
#include "common/time.h"
#include "common/tsc_clock.h"
#include "engine/engine.h"
#include "engine/engine_launcher.h"
#include "engine/packet_handler.h"
#include "engine/timer_wheel.h"
