"""Daily, weekly and monthly scorecard reports with calibration; the scheduled daily report."""
