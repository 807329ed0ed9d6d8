// Beacon's Dart client for Flutter and Dart apps: the rules of the Python and browser clients.
//
// UNTESTED: no Dart toolchain can be installed on the machines Beacon is built on, so this file
// has never been compiled or run by Beacon's CI. It follows the wire format those clients are
// tested with (POST /v1/batch, {"events": [...], "sent_at": ...}); please report what breaks.
//
// - Events wait in a bounded queue; when it is full the oldest go, counted in [Beacon.dropped].
// - A batch goes when [Beacon.batchSize] events are queued or every [Beacon.flushInterval].
// - A fault (no network, 408, 429, 5xx) is retried with full-jitter exponential backoff, never
//   sooner than Retry-After; the event ids are made here, so a resent batch counts once.
// - 400 (ingest kept the events in bad_events), 401, 403 and 413 are not retried.
// - Give a [BeaconStore] to keep the queue across app restarts (shared_preferences or a file);
//   without one, what is queued when the process dies is lost.
import 'dart:async';
import 'dart:convert';
import 'dart:math';

import 'package:http/http.dart' as http;

/// Where the queue outlives the process: load once at start, save after each change.
abstract class BeaconStore {
  Future<List<String>> load();
  Future<void> save(List<String> events);
}

class Beacon {
  Beacon(
    this.writeKey, {
    required String host,
    this.platform = 'other',
    this.appVersion,
    this.batchSize = 20,
    this.flushInterval = const Duration(seconds: 10),
    this.maxQueue = 1000,
    this.maxRetries = 10,
    this.maxBackoff = const Duration(minutes: 1),
    this.sessionTimeout = const Duration(minutes: 30),
    this.store,
    http.Client? client,
  })  : _url = Uri.parse('${host.replaceAll(RegExp(r'/$'), '')}/v1/batch'),
        _http = client ?? http.Client() {
    _timer = Timer.periodic(flushInterval, (_) => flush());
    final saved = store;
    if (saved != null) {
      saved.load().then((events) {
        _queue.insertAll(0, events.map((e) => jsonDecode(e) as Map<String, dynamic>));
        _trim();
      });
    }
  }

  final String writeKey;
  final String platform; // 'ios', 'android', 'web', 'desktop' or 'other'
  final String? appVersion;
  final int batchSize;
  final Duration flushInterval;
  final int maxQueue;
  final int maxRetries;
  final Duration maxBackoff;
  final Duration sessionTimeout;
  final BeaconStore? store;

  final Uri _url;
  final http.Client _http;
  final List<Map<String, dynamic>> _queue = [];
  final Random _random = Random.secure();
  late final Timer _timer;
  Future<void>? _sending;
  String? userId;
  late String anonymousId = _uuid();
  String? _session;
  DateTime _lastEvent = DateTime.fromMillisecondsSinceEpoch(0);
  int dropped = 0; // left out because the queue was full
  int failed = 0; // refused for good, or still failing after maxRetries

  /// Queue one event; FIELDS are Beacon's typed fields (revenue, currency, duration_ms, success,
  /// error_type, category, properties, context). Returns its event id.
  String track(String eventType, [Map<String, dynamic> fields = const {}]) {
    final now = DateTime.now().toUtc();
    if (_session == null || now.difference(_lastEvent) > sessionTimeout) _session = _uuid();
    _lastEvent = now;
    final event = <String, dynamic>{
      'platform': platform,
      if (appVersion != null) 'app_version': appVersion,
      ...fields,
      'event_type': eventType,
      'event_id': _uuid(),
      'timestamp': now.toIso8601String(),
      'anonymous_id': anonymousId,
      'session_id': _session,
      if (userId != null) 'user_id': userId,
    };
    _queue.add(event);
    _trim();
    _save();
    if (_queue.length >= batchSize) flush();
    return event['event_id'] as String;
  }

  String screen(String name, [Map<String, dynamic> properties = const {}]) =>
      track('page_view', {'properties': {'screen': name, ...properties}});

  String identify(String id, [Map<String, dynamic> traits = const {}]) {
    userId = id;
    return track('identify', {'properties': traits});
  }

  /// Sign out: later events belong to a new anonymous visitor and session.
  void reset() {
    userId = null;
    anonymousId = _uuid();
    _session = null;
  }

  /// Send everything queued. Call it when the app goes to the background
  /// (AppLifecycleState.paused): a mobile OS may end the process after that.
  Future<void> flush() {
    return _sending ??= _drain().whenComplete(() => _sending = null);
  }

  /// Flush, then stop the timer and the HTTP client.
  Future<void> close() async {
    await flush();
    _timer.cancel();
    _http.close();
  }

  Future<void> _drain() async {
    while (_queue.isNotEmpty) {
      final batch = _queue.take(500).toList(); // ingest's limit per batch
      await _send(batch);
      final sent = batch.toSet(); // by identity: a full queue may have dropped some meanwhile
      _queue.removeWhere(sent.contains);
      await _save();
    }
  }

  // Deliver one batch, retrying; what ingest refuses for good, or what still fails after
  // maxRetries, is counted in [failed].
  Future<void> _send(List<Map<String, dynamic>> batch) async {
    for (var attempt = 1; attempt <= maxRetries + 1; attempt++) {
      // sent_at is when this attempt left: ingest corrects the app's clock by it.
      final now = DateTime.now().toUtc().toIso8601String();
      final body = jsonEncode({'events': batch, 'sent_at': now});
      int status = 0;
      Duration retryAfter = Duration.zero;
      try {
        final answer = await _http
            .post(_url,
                headers: {
                  'Authorization': 'Bearer $writeKey',
                  'Content-Type': 'application/json',
                },
                body: body)
            .timeout(const Duration(seconds: 15));
        status = answer.statusCode;
        retryAfter = Duration(seconds: int.tryParse(answer.headers['retry-after'] ?? '') ?? 0);
      } catch (_) {
        // no network, refused or timed out: retried below
      }
      if (status >= 200 && status < 300 || status == 400) return;
      if (const {401, 403, 413}.contains(status)) break;
      if (attempt > maxRetries) break;
      final cap = min(maxBackoff.inMilliseconds, 500 * pow(2, attempt - 1).toInt());
      final pause = Duration(milliseconds: _random.nextInt(cap + 1));
      await Future<void>.delayed(pause > retryAfter ? pause : retryAfter);
    }
    failed += batch.length; // given up: counted, and the queue moves on
  }

  void _trim() {
    final over = _queue.length - maxQueue;
    if (over > 0) {
      _queue.removeRange(0, over); // the oldest go first
      dropped += over;
    }
  }

  Future<void> _save() async {
    await store?.save(_queue.map(jsonEncode).toList());
  }

  String _uuid() {
    final bytes = List<int>.generate(16, (_) => _random.nextInt(256));
    bytes[6] = (bytes[6] & 0x0f) | 0x40; // version 4
    bytes[8] = (bytes[8] & 0x3f) | 0x80; // RFC 4122 variant
    final hex = bytes.map((b) => b.toRadixString(16).padLeft(2, '0')).join();
    return '${hex.substring(0, 8)}-${hex.substring(8, 12)}-${hex.substring(12, 16)}-'
        '${hex.substring(16, 20)}-${hex.substring(20)}';
  }
}
