from tuidock.cli import main

raise SystemExit(main())
