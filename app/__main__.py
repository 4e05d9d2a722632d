from app.cli import main

if __name__ == "__main__":  # not again in a worker process (app.offload)
    main()
