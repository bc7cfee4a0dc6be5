"""SQL storage: tables, repositories, migrations."""
