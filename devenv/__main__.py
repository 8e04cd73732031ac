from devenv.cli import main

raise SystemExit(main())
