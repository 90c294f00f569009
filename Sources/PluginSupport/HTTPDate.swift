import Glibc

/// Calendar conversions for signatures and store timestamps (UTC only).
public enum HTTPDate {
    public struct Components: Sendable {
        public var year, month, day, hour, minute, second: Int
    }

    public static func components(_ t: Int64) -> Components {
        var tt = time_t(t)
        var tm = tm()
        gmtime_r(&tt, &tm)
        return Components(year: Int(tm.tm_year) + 1900, month: Int(tm.tm_mon) + 1, day: Int(tm.tm_mday),
                          hour: Int(tm.tm_hour), minute: Int(tm.tm_min), second: Int(tm.tm_sec))
    }

    public static func now() -> Int64 { Int64(time(nil)) }

    /// ISO 8601 as S3 writes it (`2026-11-29T14:00:00.000Z`) → seconds since 1970.
    public static func parseISO8601(_ s: String) -> Int64? {
        let digits = s.split(whereSeparator: { !$0.isNumber }).map { Int($0) ?? 0 }
        guard digits.count >= 6 else { return nil }
        var tm = tm()
        tm.tm_year = Int32(digits[0] - 1900)
        tm.tm_mon = Int32(digits[1] - 1)
        tm.tm_mday = Int32(digits[2])
        tm.tm_hour = Int32(digits[3])
        tm.tm_min = Int32(digits[4])
        tm.tm_sec = Int32(digits[5])
        return Int64(timegm(&tm))
    }

    /// RFC 7231 (`Sun, 29 Nov 2026 14:00:00 GMT`) → seconds since 1970.
    public static func parseRFC1123(_ s: String) -> Int64? {
        let parts = s.split(separator: " ")
        guard parts.count >= 5 else { return nil }
        let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
        guard let day = Int(parts[1]), let mon = months.firstIndex(of: String(parts[2])), let year = Int(parts[3]) else { return nil }
        let hms = parts[4].split(separator: ":").compactMap { Int($0) }
        guard hms.count == 3 else { return nil }
        var tm = tm()
        tm.tm_year = Int32(year - 1900)
        tm.tm_mon = Int32(mon)
        tm.tm_mday = Int32(day)
        tm.tm_hour = Int32(hms[0])
        tm.tm_min = Int32(hms[1])
        tm.tm_sec = Int32(hms[2])
        return Int64(timegm(&tm))
    }

    /// `Sun, 29 Nov 2026 14:00:00 GMT` (OSS signs with it).
    public static func rfc1123(_ t: Int64) -> String {
        let c = components(t)
        var tt = time_t(t)
        var tmv = tm()
        gmtime_r(&tt, &tmv)
        let days = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"]
        let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
        return "\(days[Int(tmv.tm_wday)]), \(String(c.day).leftPadded(to: 2)) \(months[c.month - 1]) \(c.year) \(String(c.hour).leftPadded(to: 2)):\(String(c.minute).leftPadded(to: 2)):\(String(c.second).leftPadded(to: 2)) GMT"
    }
}
