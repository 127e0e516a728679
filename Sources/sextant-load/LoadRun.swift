import Foundation
import SextantBase

/// The phases of one load run and the figures each prints.
struct LoadRun {
  let options: SextantLoad
  let files: MeshFiles
  let work: URL

  func execute() async throws {
    let clock = ContinuousClock()
    print(
      "sextant-load: \(options.services) services × 2 ports × \(options.endpointsPerService) pods, "
        + "\(options.proxies) proxies (\(options.xdsProtocol.rawValue)), \(options.changes) changes, debounce \(options.debounceAfter)/\(options.debounceMax)"
    )
    try files.writeAll()
    let started = clock.now
    let sextant = try SextantProcess(
      binary: options.sextant, clustersDirectory: files.directory, workDirectory: work,
      debounceAfter: options.debounceAfter,
      debounceMax: options.debounceMax, logLevel: options.sextantLogLevel,
      removeOnSignal: options.keep ? nil : work)
    defer { sextant.stop() }
    try await sextant.waitReady(timeout: .seconds(options.timeout))
    figure("sextant start to /ready", clock.now - started)
    report(memoryOf: sextant, "before proxies")
    let cpuBefore = sextant.cpuTime()

    let board = LoadBoard(proxies: options.proxies)
    try await withThrowingTaskGroup(of: Void.self) { group in
      let connecting = clock.now
      let port = sextant.grpcPort
      for index in 0..<options.proxies {
        let xdsProtocol = options.xdsProtocol
        group.addTask { await LoadProxy(index: index, port: port, board: board, xdsProtocol: xdsProtocol).run() }
      }
      try await waitFor("every proxy to sync", board: board, sextant: sextant) {
        board.entries.allSatisfy { $0.synced != nil }
      }
      let entries = board.entries
      print("proxies synced: \(entries.filter { $0.synced != nil }.count) of \(options.proxies)")
      let syncTimes = entries.compactMap { entry in entry.synced.map { $0 - (entry.connected ?? connecting) } }
      figure(
        "initial sync, all proxies (first connect to last synced)", entries.compactMap(\.synced).max()! - connecting)
      figure("initial sync per proxy p50 / p99", percentile(syncTimes, 0.5), percentile(syncTimes, 0.99))
      let bytes = entries.map(\.bytes)
      print(String(format: "config bytes per proxy: %.0f KiB", Double(bytes.reduce(0, +)) / Double(bytes.count) / 1024))
      report(memoryOf: sextant, "with \(options.proxies) proxies synced")
      if let before = cpuBefore, let after = sextant.cpuTime() {
        figure("sextant CPU for the initial sync", after - before)
      }

      // Endpoint changes: each rewrites one service's file (one more or one less pod) and waits for every proxy.
      var latencies: [Duration] = []
      var spreads: [Duration] = []
      var received = 0
      let cpuChanges = sextant.cpuTime()
      for change in 0..<options.changes {
        let service = change % options.services
        board.track(MeshFiles.edsCluster(service: service))
        let written = clock.now
        // The first round over the services adds a pod to each, the next removes it again, and so on.
        let endpoints = options.endpointsPerService + (change / options.services % 2 == 0 ? 1 : 0)
        try files.write(service: service, endpoints: endpoints)
        try await waitFor("every proxy to receive change \(change + 1)", board: board, sextant: sextant) {
          board.arrivals.count == options.proxies
        }
        let arrivals = board.arrivals.values
        received += 1
        latencies += arrivals.map { $0 - written }
        spreads.append(arrivals.max()! - arrivals.min()!)
      }
      print("changes received by every proxy: \(received) of \(options.changes)")
      if !latencies.isEmpty {
        figure(
          "endpoint change, file written to proxy received, p50 / p99 / max", percentile(latencies, 0.5),
          percentile(latencies, 0.99), latencies.max()!)
        figure("fan-out, first to last proxy per change, p50 / max", percentile(spreads, 0.5), spreads.max()!)
        if let before = cpuChanges, let after = sextant.cpuTime() {
          figure("sextant CPU per change", (after - before) / options.changes)
        }
        report(memoryOf: sextant, "after the changes")
      }
      let failures = board.entries.compactMap(\.failure)
      let nacks = board.entries.map(\.nacks).reduce(0, +)
      print("stream failures: \(failures.count); NACKs: \(nacks)")
      group.cancelAll()
      guard failures.isEmpty, nacks == 0 else {
        throw LoadError("\(failures.count) streams failed (first: \(failures.first ?? "-")), \(nacks) responses NACKed")
      }
    }
  }

  /// Polls `condition` every 10 ms until it holds; fails when sextant exits, a stream fails, or the timeout passes.
  private func waitFor(
    _ what: String, board: LoadBoard, sextant: SextantProcess, _ condition: () -> Bool
  ) async throws {
    let deadline = ContinuousClock.now + .seconds(options.timeout)
    while !condition() {
      guard sextant.process.isRunning else {
        throw LoadError("sextant exited while waiting for \(what): \(sextant.logTail())")
      }
      if let failure = board.entries.lazy.compactMap(\.failure).first {
        throw LoadError("a stream failed while waiting for \(what): \(failure)")
      }
      guard ContinuousClock.now < deadline else {
        let entries = board.entries
        throw LoadError(
          "timed out after \(options.timeout) s waiting for \(what): \(entries.filter { $0.synced != nil }.count) of "
            + "\(entries.count) proxies synced, \(board.arrivals.count) received the current change")
      }
      try await Task.sleep(for: .milliseconds(10))
    }
  }

  private func report(memoryOf sextant: SextantProcess, _ when: String) {
    guard let memory = sextant.memory() else { return }
    print(
      String(
        format: "sextant memory %@: RSS %.1f MiB (peak %.1f MiB)", when, Double(memory.rss) / 1024,
        Double(memory.peak) / 1024))
  }
}

/// Prints `name: d1 / d2 / ...` in milliseconds.
func figure(_ name: String, _ durations: Duration...) {
  print("\(name): " + durations.map { String(format: "%.1f ms", $0.inMilliseconds) }.joined(separator: " / "))
}

/// The `fraction` percentile (nearest rank) of `values`.
func percentile(_ values: [Duration], _ fraction: Double) -> Duration {
  let sorted = values.sorted()
  guard !sorted.isEmpty else { return .zero }
  let rank = Int((fraction * Double(sorted.count)).rounded(.up)) - 1
  return sorted[min(max(rank, 0), sorted.count - 1)]
}
